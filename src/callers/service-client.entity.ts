import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { CallerScope } from './caller';

/** A registered caller of the service routes. Its secrets are in `service_client_secrets`. */
@Entity({ name: 'service_clients' })
export class ServiceClient {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: CallerScope[];

  /** Null: every provider. */
  @Column({ type: 'text', array: true, nullable: true })
  providers: string[] | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true })
  disabledAt: Date | null;

  @Column({ name: 'disabled_by', type: 'text', nullable: true })
  disabledBy: string | null;
}

import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Who runs a background job (refresh-ahead) until when: one instance at a time. */
@Entity({ name: 'job_leases' })
export class JobLease {
  @PrimaryColumn({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  owner: string;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}

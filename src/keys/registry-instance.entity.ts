import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A serving instance and the registry version and keys it has loaded; promotion waits on these. */
@Entity({ name: 'key_registry_instances' })
export class RegistryInstance {
  @PrimaryColumn({ name: 'instance_id', type: 'text' })
  instanceId: string;

  @Column({ name: 'loaded_version', type: 'bigint' })
  loadedVersion: string;

  @Column({ name: 'loaded_key_ids', type: 'text', array: true })
  loadedKeyIds: string[];

  @Column({ name: 'primary_key_id', type: 'text', nullable: true })
  primaryKeyId: string | null;

  @Column({ name: 'seen_at', type: 'timestamptz' })
  seenAt: Date;
}

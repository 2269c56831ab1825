import { Column, Entity, PrimaryColumn } from 'typeorm';

export const KEY_STATES = ['decrypt-only', 'primary', 'retired'] as const;
export type KeyState = (typeof KEY_STATES)[number];

/** A data key of the registry, only wrapped. Written by KeyRegistryRepository alone. */
@Entity({ name: 'key_registry' })
export class RegistryKey {
  @PrimaryColumn({ name: 'key_id', type: 'text' })
  keyId: string;

  @Column({ type: 'text' })
  state: KeyState;

  @Column({ name: 'wrapped_key', type: 'bytea' })
  wrappedKey: Buffer;

  @Column({ name: 'wrapping_key', type: 'text' })
  wrappingKey: string;

  @Column({ name: 'change_seq', type: 'bigint' })
  changeSeq: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @Column({ name: 'promoted_at', type: 'timestamptz', nullable: true })
  promotedAt: Date | null;

  @Column({ name: 'promoted_by', type: 'text', nullable: true })
  promotedBy: string | null;

  @Column({ name: 'retired_at', type: 'timestamptz', nullable: true })
  retiredAt: Date | null;

  @Column({ name: 'retired_by', type: 'text', nullable: true })
  retiredBy: string | null;

  @Column({ name: 'rewrapped_at', type: 'timestamptz', nullable: true })
  rewrappedAt: Date | null;

  @Column({ name: 'rewrapped_by', type: 'text', nullable: true })
  rewrappedBy: string | null;
}

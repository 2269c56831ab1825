import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { queryRows } from '../../database/query-rows';

/** Every statement over `job_leases`: one row per background job, taken or renewed in one statement. */
@Injectable()
export class JobLeasesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Takes the lease when free or expired, or renews it for its holder; false while another holds it. */
  async take(name: string, owner: string, seconds: number): Promise<boolean> {
    const rows = await queryRows(
      this.dataSource.manager,
      `INSERT INTO job_leases (name, owner, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3::int))
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
         WHERE job_leases.owner = EXCLUDED.owner OR job_leases.expires_at <= now()
       RETURNING name`,
      [name, owner, seconds],
    );
    return rows.length === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await queryRows(
      this.dataSource.manager,
      `DELETE FROM job_leases WHERE name = $1 AND owner = $2 RETURNING name`,
      [name, owner],
    );
  }
}

import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { authConfig } from '../config/configuration';
import { RateBudget } from './rate-budget';

/**
 * The two rate budgets of the admin routes, one instance for all of them (guards are built per
 * controller): requests that carry the admin token, and every other request.
 */
@Injectable()
export class AdminBudgets implements OnModuleInit {
  private readonly logger = new Logger('AdminGuard');
  readonly admins: RateBudget;
  readonly failures: RateBudget;

  constructor(@Inject(authConfig.KEY) private readonly auth: ConfigType<typeof authConfig>) {
    this.admins = new RateBudget(auth.adminRateLimitPerMinute);
    this.failures = new RateBudget(auth.failedAuthLimitPerMinute);
  }

  onModuleInit(): void {
    if (!this.auth.adminApiToken) {
      this.logger.warn('ADMIN_API_TOKEN is not set: admin routes refuse every request');
    }
  }
}

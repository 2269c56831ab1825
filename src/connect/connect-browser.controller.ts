import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { connectConfig } from '../config/configuration';
import { ConnectFlowService, type CallbackQuery, type Refused } from './connect-flow.service';
import { ConnectOutcomes } from './connect-outcomes';
import { connectPage, PAGE_CSP } from './connect-page';
import { returnUrl } from './connect-policy';

/** Refusals that are someone's attempt rather than a user's bad luck: recorded as forbidden. */
const ATTACK_SHAPED = new Set([
  'connect_issuer_mismatch',
  'connect_issuer_missing',
  'connect_account_domain_denied',
]);
const MAX_BINDING_COOKIES = 20;

/**
 * The public routes a browser follows: no token, every answer no-store (set for the whole app),
 * pages under a policy that allows nothing. The binding cookie is HttpOnly and SameSite=Lax,
 * named after its session so two flows in one browser keep their own.
 */
@ApiExcludeController()
@Controller('oauth')
export class ConnectBrowserController {
  constructor(
    @Inject(connectConfig.KEY) private readonly config: ConfigType<typeof connectConfig>,
    private readonly flow: ConnectFlowService,
    private readonly outcomes: ConnectOutcomes,
  ) {}

  @Get('connect/:link')
  async open(@Param('link') link: string, @Req() request: Request, @Res() response: Response) {
    // Link previews and scanners probe with HEAD (Express routes it here): it never spends the link.
    if (request.method === 'HEAD') return this.page(response, 200, 'connect_link_preview');
    const step = await this.flow.open(link);
    if (step.kind !== 'authorize') return this.refuse(request, response, step);
    response.cookie(this.cookieName(step.sessionId), step.binding, {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.config.secureCookie,
      path: '/',
      maxAge: step.maxAgeSeconds * 1000,
    });
    this.outcomes.record(request, step.provider, 'opened', 303);
    response.redirect(303, step.location);
  }

  @Get('callback')
  async callback(@Query() query: CallbackQuery, @Req() request: Request, @Res() response: Response) {
    const step = await this.flow.callback(query, this.bindingsOf(request));
    if (step.kind !== 'finished') return this.refuse(request, response, step);
    const { session } = step;
    response.clearCookie(this.cookieName(session.id), { path: '/', secure: this.config.secureCookie });
    if (step.error !== undefined && ATTACK_SHAPED.has(step.error))
      this.outcomes.refused(request, session.provider, step.error);
    else
      this.outcomes.record(
        request,
        session.provider,
        step.error === undefined ? step.outcome : step.status,
        303,
      );
    if (session.returnTo !== null) {
      const outcome: Record<string, string> = { connect_session: session.id, status: step.status };
      if (session.accountId !== null && step.status === 'connected')
        outcome.account = String(session.accountId);
      if (step.error !== undefined) outcome.error = step.error;
      return response.redirect(303, returnUrl(session.returnTo, outcome));
    }
    this.page(response, step.error === undefined ? 200 : 400, step.error ?? step.outcome);
  }

  private refuse(request: Request, response: Response, step: Refused) {
    this.outcomes.refused(request, step.provider, step.reason);
    if (step.sessionId !== undefined)
      response.clearCookie(this.cookieName(step.sessionId), { path: '/', secure: this.config.secureCookie });
    const status =
      step.reason === 'connect_not_configured' ? 404 : step.reason === 'connect_link_invalid' ? 410 : 403;
    this.page(response, status, step.reason);
  }

  private page(response: Response, status: number, code: string) {
    response.status(status);
    response.setHeader('Content-Security-Policy', PAGE_CSP);
    response.type('html').send(connectPage(code));
  }

  private cookieName(sessionId: string): string {
    return `${this.cookiePrefix()}${sessionId}`;
  }

  /** `__Host-` (Secure, Path=/, no Domain) whenever the service is served over https. */
  private cookiePrefix(): string {
    return this.config.secureCookie ? '__Host-connect-' : 'connect-';
  }

  private bindingsOf(request: Request): string[] {
    const prefix = this.cookiePrefix();
    const header = request.headers.cookie ?? '';
    const values: string[] = [];
    for (const pair of header.split(';')) {
      const at = pair.indexOf('=');
      if (at < 0 || !pair.slice(0, at).trim().startsWith(prefix)) continue;
      values.push(pair.slice(at + 1).trim());
      if (values.length === MAX_BINDING_COOKIES) break;
    }
    return values;
  }
}

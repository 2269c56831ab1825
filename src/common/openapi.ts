import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';

/**
 * The page's assets are relative to `/docs`; served at `/docs/` or `/docs/index.html` with a
 * query string, Swagger UI would point them one folder too deep. One address serves the page.
 */
function oneDocsPage(request: Request, response: Response, next: NextFunction): void {
  if (request.method === 'GET' && (request.path === '/docs/' || request.path === '/docs/index.html')) {
    response.redirect(301, '/docs');
    return;
  }
  next();
}

/** The API's bearer secrets: opaque strings compared with the configured one, not JWTs. */
const OPAQUE_BEARER = { type: 'http', scheme: 'bearer', bearerFormat: undefined } as const;

/** OpenAPI document and Swagger UI at /docs, generated from the controllers and DTOs. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Connectors backend')
    .setDescription('OAuth tokens of linked third-party accounts, encrypted at rest with rotatable keys')
    .setVersion('0.1.0')
    .addBearerAuth(
      {
        ...OPAQUE_BEARER,
        description:
          'A registered caller secret (ccs_...), or CONNECTORS_API_TOKEN: opaque secrets. Each route needs one scope of the caller',
      },
      'service',
    )
    .addBearerAuth({ ...OPAQUE_BEARER, description: 'ADMIN_API_TOKEN: an opaque secret' }, 'admin')
    .build();
  app.use(oneDocsPage);
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
}

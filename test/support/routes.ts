import { RequestMethod, type INestApplication, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';

export interface Route {
  method: 'get' | 'post' | 'put' | 'delete' | 'patch';
  /** The template, as Nest joins it: `/admin/rotations/:id/cancel`. */
  path: string;
  controller: string;
  /** The controller class and the name of the handler method: their decorators' metadata. */
  type: Type;
  handler: string;
}

function joined(...parts: (string | undefined)[]): string {
  const segments = parts.flatMap((part) => (part ?? '').split('/')).filter((segment) => segment !== '');
  return `/${segments.join('/')}`;
}

/**
 * Every route the application serves, read from its controllers' decorators (`@Controller`,
 * `@Get`, `@Post`, ...) as Nest's router reads them: a route added to any controller is listed.
 */
export function routesOf(app: INestApplication): Route[] {
  const routes: Route[] = [];
  const seen = new Set<Type>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (!controller || seen.has(controller)) continue;
      seen.add(controller);
      const prefixes = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[]].flat();
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        if (method === undefined || paths === undefined) continue;
        for (const prefix of prefixes) {
          for (const path of [paths].flat()) {
            routes.push({
              method: RequestMethod[method].toLowerCase() as Route['method'],
              path: joined(prefix, path),
              controller: controller.name,
              type: controller,
              handler: name,
            });
          }
        }
      }
    }
  }
  return routes;
}

import type { Request, Response } from 'express';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  requestId?: string;
  details?: string[];
}

export function requestIdFrom(request: Request): string | undefined {
  const id = (request as Request & { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

export function sendError(response: Response, request: Request, body: Omit<ErrorBody, 'requestId'>): void {
  if (response.headersSent) return;
  response.status(body.statusCode).json({ ...body, requestId: requestIdFrom(request) });
}

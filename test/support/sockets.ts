import { connect, type Socket } from 'node:net';

/** Resolves with how long the server at `port` kept a socket open after `write` was sent on it. */
export function heldFor(port: number, write: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(port, host, () => socket.write(write));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Date.now() - started));
    socket.setTimeout(20_000, () => {
      socket.destroy();
      reject(new Error('the server kept a half-sent request open for 20 s'));
    });
  });
}

/** A socket connected to `port`, nothing sent. */
export function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => resolve(socket));
    socket.once('error', reject);
  });
}

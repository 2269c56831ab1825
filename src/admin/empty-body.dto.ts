/**
 * The body of an action that takes none: with the global pipe's `forbidNonWhitelisted`, any
 * member (`{"state":"primary"}`) answers 400 instead of being ignored.
 */
export class EmptyBodyDto {}

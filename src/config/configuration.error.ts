/**
 * A setting that stops start-up. The message names the variable and the rule it breaks,
 * never the value.
 */
export class ConfigurationError extends Error {
  constructor(
    readonly variable: string,
    readonly rule: string,
  ) {
    super(`${variable}: ${rule}`);
    this.name = 'ConfigurationError';
  }
}

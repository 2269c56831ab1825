import type { KeyWrappingSettings } from '../config/key-settings';
import { AwsKmsKeyWrapper } from './aws-kms-key-wrapper';
import type { KeyWrapper } from './key-wrapper';
import { LocalKeyWrapper } from './local-key-wrapper';

/** The configured wrapping, which wraps new and re-wrapped keys, and whatever else may unwrap. */
export class KeyWrappers {
  readonly unwrappers: readonly KeyWrapper[];

  constructor(
    readonly current: KeyWrapper,
    previousRoot?: KeyWrapper,
  ) {
    this.unwrappers = previousRoot ? [current, previousRoot] : [current];
  }

  static fromSettings(settings: KeyWrappingSettings): KeyWrappers {
    const previous = settings.previousRootKey && new LocalKeyWrapper(settings.previousRootKey);
    const current =
      settings.kind === 'local'
        ? new LocalKeyWrapper(settings.rootKey)
        : new AwsKmsKeyWrapper(settings.keyArn, settings.region);
    return new KeyWrappers(current, previous);
  }

  /** The wrapper for a row's wrapping key, or undefined when none of them may open it. */
  for(wrappingKey: string): KeyWrapper | undefined {
    return this.unwrappers.find((wrapper) => wrapper.accepts(wrappingKey));
  }
}

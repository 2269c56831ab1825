import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, Matches } from 'class-validator';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { KEY_BYTES, KeyMaterialError, KeyRing } from '../crypto/key-ring';
import { decodeStrictBase64 } from '../crypto/strict-base64';
import { ConfigurationError } from './configuration.error';
import { trimmed } from './setting.decorators';

/** `local`, or `aws-kms:` and the ARN of a KMS key or alias. */
const KEY_WRAPPING_PATTERN =
  /^(local|aws-kms:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+))$/;

/** Key material as text: decoded and checked by `decodeKeys`, after the settings validate. */
export function KeyTextSetting(): PropertyDecorator {
  return applyDecorators(IsString(), IsOptional());
}

/** Unset: env mode. `local` or `aws-kms:<ARN>`: registry mode. */
export function KeyWrappingSetting(): PropertyDecorator {
  return applyDecorators(
    Matches(KEY_WRAPPING_PATTERN, { message: 'must be local or aws-kms:<ARN of a KMS key or alias>' }),
    Transform(trimmed),
    IsOptional(),
  );
}

/** The validated settings that name keys. */
export interface KeyVariables {
  WORKFLOWS_ARTIFACT_ENC_KEY?: string;
  WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS?: string;
  JOBS_CRYPTO_SECONDARY_KEY?: string;
  KEY_WRAPPING?: string;
  ROOT_KEY?: string;
  ROOT_KEY_PREVIOUS?: string;
  AWS_REGION?: string;
}

export type KeyWrappingSettings =
  | { kind: 'local'; rootKey: KeyObject; previousRootKey?: KeyObject }
  | { kind: 'aws-kms'; keyArn: string; region: string; previousRootKey?: KeyObject };

/** The key material the settings name, decoded once, when they are validated. */
export interface DecodedKeys {
  /** Env mode's keys; empty in registry mode, whose keys are in the registry. */
  ring: KeyRing;
  /** Registry mode's wrapping, with its root keys; undefined in env mode. */
  wrapping?: KeyWrappingSettings;
}

const ENV_KEY_VARIABLES = {
  primary: 'WORKFLOWS_ARTIFACT_ENC_KEY',
  previous: 'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS',
  secondary: 'JOBS_CRYPTO_SECONDARY_KEY',
} as const satisfies Record<string, keyof KeyVariables>;

/** Decodes and checks every key the settings name; a refusal names the variable, never the key. */
export function decodeKeys(settings: KeyVariables): DecodedKeys {
  const ring = keyRingOf(settings);
  return { ring, wrapping: keyWrappingOf(settings) };
}

function keyRingOf(settings: KeyVariables): KeyRing {
  try {
    return KeyRing.fromSettings({
      primary: settings.WORKFLOWS_ARTIFACT_ENC_KEY,
      previous: settings.WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS,
      secondary: settings.JOBS_CRYPTO_SECONDARY_KEY,
    });
  } catch (error) {
    if (!(error instanceof KeyMaterialError)) throw error;
    // `previous[2]` names the second entry of the list variable.
    const variable = error.setting.replace(
      /^\w+/,
      (setting) => ENV_KEY_VARIABLES[setting as keyof typeof ENV_KEY_VARIABLES] ?? setting,
    );
    throw new ConfigurationError(variable, error.rule);
  }
}

function rootKeyOf(variable: string, text: string | undefined): KeyObject | undefined {
  if (text === undefined) return undefined;
  const bytes = decodeStrictBase64(text.trim());
  if (bytes?.length !== KEY_BYTES) {
    throw new ConfigurationError(
      variable,
      'must be standard base64 of exactly 32 bytes (openssl rand -base64 32)',
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

/** Registry mode's wrapping, with its root keys decoded; undefined in env mode. */
function keyWrappingOf(settings: KeyVariables): KeyWrappingSettings | undefined {
  const wrapping = settings.KEY_WRAPPING;
  const rootKey = rootKeyOf('ROOT_KEY', settings.ROOT_KEY);
  const previousRootKey = rootKeyOf('ROOT_KEY_PREVIOUS', settings.ROOT_KEY_PREVIOUS);
  if (wrapping === undefined) {
    if (rootKey || previousRootKey) {
      throw new ConfigurationError(
        rootKey ? 'ROOT_KEY' : 'ROOT_KEY_PREVIOUS',
        'applies only with KEY_WRAPPING',
      );
    }
    return undefined;
  }
  for (const variable of Object.values(ENV_KEY_VARIABLES)) {
    if (settings[variable] !== undefined) {
      throw new ConfigurationError(
        variable,
        'must not be set in registry mode (KEY_WRAPPING): keys:import takes it into the registry',
      );
    }
  }
  if (wrapping === 'local') {
    if (!rootKey) throw new ConfigurationError('ROOT_KEY', 'is required when KEY_WRAPPING is local');
    return { kind: 'local', rootKey, previousRootKey };
  }
  if (rootKey) throw new ConfigurationError('ROOT_KEY', 'applies only when KEY_WRAPPING is local');
  const keyArn = wrapping.slice('aws-kms:'.length);
  const region = keyArn.split(':')[3];
  if (settings.AWS_REGION !== undefined && settings.AWS_REGION !== region) {
    throw new ConfigurationError('AWS_REGION', 'must be the region of the KMS key named in KEY_WRAPPING');
  }
  return { kind: 'aws-kms', keyArn, region, previousRootKey };
}

import { AdoptExternalAccounts1764300000000 } from '../../migrations/1764300000000-AdoptExternalAccounts';

/** Every migration, in order, listed explicitly so the server, CLI and tests run the same set. */
export const MIGRATIONS = [AdoptExternalAccounts1764300000000];

import { ExternalAccount } from '../connectors/external-account.entity';

/** Every entity, listed explicitly: nothing is discovered by file globbing. */
export const ENTITIES = [ExternalAccount];

/**
 * confide/net: the party runtime every protocol uses. A server (coordinator)
 * and parties identified by Ed25519 keys exchange authenticated (MAC'd with
 * session keys, or signed end to end when relayed), chunked binary messages in rounds with deadlines, over an in-memory network (tests,
 * simulations) or WebSocket (processes and machines, TLS when given a
 * certificate). Dropouts are events, never exceptions. See src/net/README.md
 * for the API, the wire format and the threat model.
 */
export { generateIdentity, identityFromSeed, identitySeed, partyId, signWithIdentity, verifySignature, type Identity, type PartyId } from './identity.ts';
export { serve, PartyServer, type ServerOptions, type CollectOptions, type ReceiveOptions, type RoundResult } from './server.ts';
export { join, Party, type JoinOptions } from './party.ts';
export type { Received } from './_inbox.ts';
export type { NetEvent, NetListener } from './events.ts';
export { memoryTransport } from './memory.ts';
export { webSocketTransport, type WebSocketOptions, type Pem } from './websocket.ts';
export { HIGH_WATER_BYTES, type Link, type LinkHandlers, type Listener, type Transport } from './transport.ts';
export { CHUNK_BYTES, NET_VERSION } from './_frame.ts';

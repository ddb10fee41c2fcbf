/**
 * confide: privacy-preserving computation. One namespace per module; each is
 * also importable on its own (`confide/core`, ...).
 */
export * as core from './core/index.ts';
export * as dp from './dp/index.ts';
export * as net from './net/index.ts';
export * as secagg from './secagg/index.ts';
export * as he from './he/index.ts';
export * as mpc from './mpc/index.ts';
export * as fl from './fl/index.ts';
export { ConfideError, isConfideError, type ConfideErrorCode } from './core/errors.ts';

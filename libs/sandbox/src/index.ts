export * from './sandbox-state';
export * from './sandbox-server';
export * from './faults';
export * from './wire';
export * from './provider-request';
export * from './raw-http';
export { SeededRandom, hashSeed } from './prng';
export * from './spending';

export * from './sandbox-state';
export * from './sandbox-server';
export * from './faults';
export * from './wire';
export { SeededRandom, hashSeed } from './prng';
export * from './spending';

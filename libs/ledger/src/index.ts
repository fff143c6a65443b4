export * from './money';
export * from './chart';
export * from './postings';
export * from './balance';

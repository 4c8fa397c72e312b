export * from './export.js';
export * from './files.js';
export * from './format.js';
export * from './import.js';

export { main, buildProgram, ExitError } from './main.js';

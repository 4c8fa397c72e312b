/** Entry point of the `locus` command (bin/locus.js runs its build, dist/src/cli/main.js). */
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// Exit once stdout is flushed (a pipe may still be draining); open sockets must not keep us.
process.stdout.write('', () => process.exit(code));

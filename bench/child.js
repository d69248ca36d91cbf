// One measurement in its own process: `node --expose-gc bench/child.js <system> <fn> '<json args>'`.
// Prints the result as the last line of stdout: `RESULT {...}`.
const [system, fn, args = '{}'] = process.argv.slice(2);
const module = await import(`./systems/${system}.js`);
const result = await module[fn](JSON.parse(args));
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);

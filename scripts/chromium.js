// Finds Debian's Chromium for the browser specs, installing it when missing and we are root.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function ensureChromium() {
  const candidates = [process.env.CHROME_BIN, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) {
    throw new Error(
      'Chromium is needed for the browser specs and was not found. On Debian: sudo apt-get update && sudo apt-get install -y chromium (or set CHROME_BIN).',
    );
  }
  console.error('Chromium not found: installing Debian\'s chromium package (apt-get)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
  if (!existsSync('/usr/bin/chromium')) throw new Error('apt-get installed chromium, but /usr/bin/chromium is missing.');
  return '/usr/bin/chromium';
}

// Karma runs the browser specs (spec/browser) in Debian's headless Chromium. scripts/karma.js
// bundles them with esbuild first (build/browser/specs.js): Karma only serves the bundle.
export default function (config) {
  config.set({
    frameworks: ['jasmine'],
    files: ['build/browser/specs.js'],
    browsers: ['ChromiumHeadlessCI'],
    customLaunchers: {
      ChromiumHeadlessCI: {
        base: 'ChromeHeadless',
        flags: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--disable-quic',
          '--no-first-run',
        ],
      },
    },
    reporters: ['dots'],
    singleRun: true,
    failOnEmptyTestSuite: true,
    browserNoActivityTimeout: 60000,
    captureTimeout: 120000,
    client: { jasmine: { random: true } },
  });
}

import { startStandalone } from './standalone';

// `npm run sandbox -- --port 4010`: the sandbox banks on their own server (see sandbox/README.md).
const running = await startStandalone(process.argv.slice(2), (text) => process.stdout.write(text));
const shutdown = () => {
  void running.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

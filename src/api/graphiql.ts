import express, { type Request, type Response, type Router } from 'express';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Browser assets served from installed packages: the page works offline, with no CDN. */
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));
const assets: Record<string, { file: string; type: string }> = {
  'react.js': { file: path.join(packageDir('react'), 'umd/react.production.min.js'), type: 'text/javascript' },
  'react-dom.js': { file: path.join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), type: 'text/javascript' },
  'graphiql.js': { file: path.join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript' },
  'graphiql.css': { file: path.join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css' },
  'graphql-ws.js': { file: path.join(packageDir('graphql-ws'), 'umd/graphql-ws.min.js'), type: 'text/javascript' },
};

/** Static files of the GraphiQL page, mounted at `/graphiql`. */
export function graphiqlAssets(): Router {
  const router = express.Router();
  router.get('/:name', (req: Request, res: Response) => {
    const asset = assets[String(req.params.name)];
    if (!asset) return void res.status(404).end();
    res.type(asset.type).set('Cache-Control', 'public, max-age=86400').sendFile(asset.file);
  });
  return router;
}

/** True when a GET on /graphql comes from a browser asking for a page rather than a query. */
export function wantsGraphiQL(req: Request): boolean {
  return req.method === 'GET' && req.query.query === undefined && (req.headers.accept ?? '').includes('text/html');
}

/** One GraphiQL tab: a document of example operations and its variables (JSON text). */
export interface ExampleTab {
  query: string;
  variables: string;
}

/** Where the example operations live: the same files the README's walkthrough and docs/api.md point to. */
export const EXAMPLES_DIR = path.resolve(import.meta.dirname, '../../docs/examples');

/**
 * Reads `NN-name.graphql` (+ optional `NN-name.json` variables) from `dir`, in file-name order.
 * Read once at start; a missing directory (a trimmed image) just means no example tabs.
 */
export function loadExampleTabs(dir = EXAMPLES_DIR): ExampleTab[] {
  let files: string[];
  try {
    files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.graphql'))
      .sort();
  } catch {
    return [];
  }
  return files.map((f) => {
    const vars = path.join(dir, f.replace(/\.graphql$/, '.json'));
    return { query: fs.readFileSync(path.join(dir, f), 'utf8'), variables: fs.existsSync(vars) ? fs.readFileSync(vars, 'utf8').trim() : '' };
  });
}

/**
 * The GraphiQL page. `apiKey` pre-fills the Authorization header (sandbox demo key, loopback
 * only); `tabs` open as the first visit's tabs (GraphiQL keeps the user's own tabs afterwards).
 */
export function graphiqlPage(apiKey: string | undefined, tabs: ExampleTab[] = []): string {
  const headers = apiKey ? JSON.stringify({ Authorization: `Bearer ${apiKey}` }, null, 2) : '{\n  "Authorization": "Bearer pk_sandbox_…"\n}';
  const defaultTabs = tabs.length ? tabs.map((t) => ({ query: t.query, variables: t.variables, headers })) : undefined;
  // JSON.stringify then escaping "<" keeps the values inert inside the inline script.
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Passerelle GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>html,body,#graphiql{height:100%;margin:0}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/react.js"></script>
<script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphql-ws.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script>
  const initialHeaders = ${json(headers)};
  const url = new URL('/graphql', location.href);
  const wsUrl = url.href.replace(/^http/, 'ws');
  const authorization = () => { try { return JSON.parse(localStorage.getItem('graphiql:headers') || initialHeaders).Authorization; } catch { return undefined; } };
  const fetcher = GraphiQL.createFetcher({
    url: url.href,
    wsClient: graphqlWs.createClient({ url: wsUrl, lazy: true, connectionParams: () => ({ authorization: authorization() }) }),
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, { fetcher, defaultHeaders: initialHeaders, shouldPersistHeaders: true, defaultTabs: ${json(defaultTabs ?? null)} ?? undefined, defaultQuery: ${json('query Viewer {\n  viewer { id name environment }\n  endUsers(first: 10) { nodes { id externalRef displayName } }\n}\n')} }),
  );
</script>
</body>
</html>`;
}

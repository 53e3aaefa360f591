# Domicile: one image for a gateway (domicile up) or a region's node (domicile region --id ID).
# Build: docker build -t domicile .
# A gateway:  docker run -p 8080:8080 -v domicile-data:/data domicile up --host 0.0.0.0 --data /data --policy /policy/policy.yaml
# A region:   docker run -p 7100:7100 -v region-keys:/data domicile region --id in-mumbai --host 0.0.0.0 --data /data --policy /policy/policy.yaml
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles against Node's headers when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY scripts ./scripts
COPY web ./web
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
COPY schema ./schema
# Keys and the embedded stores live here: mount a volume, and back it up apart from the databases.
VOLUME ["/data"]
USER node
ENTRYPOINT ["node", "bin/domicile.js"]
CMD ["up", "--host", "0.0.0.0", "--data", "/data"]

# One image for every process (api, worker, sandbox, migrations); compose picks the command.
# Build:  docker build -t credit-ledger .

# ---- build: dev dependencies, Prisma client generation, tsc → dist/ ------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# prepare.js sees node_modules, generates the Prisma client into libs/persistence/src/generated
# (compiled into dist/ with the rest; Prisma Client 7 needs no engine at run time) and compiles.
RUN node scripts/prepare.js

# ---- runtime: production dependencies, compiled code, SQL migrations -----------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Applied by libs/persistence/src/migrator.ts (`node dist/apps/cli/src/main.js migrate`).
COPY prisma/migrations ./prisma/migrations
# The dashboard's static page (served at /dashboard; tsc compiles only the .ts around it).
COPY apps/api/dashboard ./apps/api/dashboard
# Writable place for the sandbox's state file (a volume in docker-compose.yml).
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000 4010 9464
CMD ["node", "dist/apps/api/src/main.js"]

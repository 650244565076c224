import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { settings } from '../src/config';

// No Docker engine runs on CI machines: these checks parse what `docker compose up` would read.
const root = path.resolve(import.meta.dirname, '..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { image?: string; build?: string; environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; ports?: string[] }>;
  volumes?: Record<string, unknown>;
};
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');

describe('docker-compose.yml and Dockerfile', () => {
  it('runs postgres, redis and the gateway, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'postgres', 'redis']);
    for (const [name, svc] of Object.entries(compose.services)) expect(svc.healthcheck?.test.length, name).toBeGreaterThan(0);
  });

  it('starts the gateway only once Postgres and Redis are healthy, and points it at them', () => {
    const gw = compose.services.gateway!;
    expect(gw.build).toBe('.');
    expect(gw.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    const db = new URL(gw.environment!.DATABASE_URL!);
    expect(db.hostname).toBe('postgres');
    expect(db.pathname).toBe(`/${compose.services.postgres!.environment!.POSTGRES_DB}`);
    expect(new URL(gw.environment!.REDIS_URL!).hostname).toBe('redis');
  });

  it('gives the gateway only settings Passerelle knows', () => {
    for (const name of Object.keys(compose.services.gateway!.environment!)) expect(Object.keys(settings), name).toContain(name);
  });

  it('declares every named volume it mounts', () => {
    const mounted = Object.values(compose.services).flatMap((s) => ((s as { volumes?: string[] }).volumes ?? []).map((v) => v.split(':')[0]!));
    for (const v of mounted) expect(Object.keys(compose.volumes ?? {})).toContain(v);
  });

  it('builds on node:24-slim, copies sources that exist, and runs main.ts as a non-root user', () => {
    expect(dockerfile).toMatch(/^FROM node:24-slim$/m);
    for (const [, src] of dockerfile.matchAll(/^COPY (\S+)/gm)) {
      for (const part of src!.split(' ')) expect(fs.existsSync(path.join(root, part)), part).toBe(true);
    }
    expect(dockerfile).toMatch(/^USER node$/m);
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    const argv = JSON.parse(cmd!) as string[];
    expect(fs.existsSync(path.join(root, argv[1]!))).toBe(true);
    expect(argv[2]).toBe('src/main.ts');
  });
});

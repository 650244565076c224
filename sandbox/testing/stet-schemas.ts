import { describeIssue, standingIssues } from '../core/openapi';
import { stetShapeOperation, stetSpec, type stetSchemas } from '../standards/stet/stet-openapi';

export { stetSchemas } from '../standards/stet/stet-openapi';

// The same validator and document the strict STET sandbox bank checks requests with.
const spec = await stetSpec();

/** Throws with details when a STET response body does not have the STET 1.6 shape. */
export function assertStet(name: keyof typeof stetSchemas, body: unknown): void {
  const { operationId, status } = stetShapeOperation[name];
  const issues = standingIssues(spec.checkResponse({ operationId, method: '', path: '' }, status, body));
  if (issues.length) throw new Error(`STET ${name} shape mismatch: ${issues.map(describeIssue).join('; ')}\n${JSON.stringify(body).slice(0, 1500)}`);
}

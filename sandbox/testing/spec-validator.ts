import { OpenApiSpec, SANDBOX_SPECS_DIR, describeIssue, standingIssues } from '../core/openapi';

/** Directory holding the official OpenAPI files the sandbox uses (vendored in sandbox/specs). */
export const specsDir = SANDBOX_SPECS_DIR;

const FILES = ['berlin-group-psd2-api-1.3.12.yaml', 'uk-obie-3.1.11-account-info.yaml', 'uk-obie-3.1.11-payment-initiation.yaml'] as const;

// Loaded once here so tests can build validators synchronously; the same OpenApiSpec instances
// the strict sandbox banks check requests with.
const loaded = new Map<string, OpenApiSpec>(await Promise.all(FILES.map(async (f) => [f, await OpenApiSpec.load(f)] as const)));

/**
 * Checks sandbox responses against one official OpenAPI file, by path template, method and
 * status exactly as the spec declares them (through the sandbox's one validator, `OpenApiSpec`).
 */
export class SpecValidator {
  private readonly spec: OpenApiSpec;

  constructor(file: (typeof FILES)[number]) {
    const spec = loaded.get(file);
    if (!spec) throw new Error(`SpecValidator: ${file} is not one of ${FILES.join(', ')}`);
    this.spec = spec;
  }

  /** Returns the list of validation errors (empty when the body conforms). */
  validate(method: string, pathTemplate: string, status: number, body: unknown): string[] {
    return standingIssues(this.spec.checkResponse({ method, path: pathTemplate }, status, body)).map(describeIssue);
  }

  /** Throws with readable details when the body does not conform. */
  assert(method: string, pathTemplate: string, status: number, body: unknown): void {
    const errors = this.validate(method, pathTemplate, status, body);
    if (errors.length) {
      throw new Error(
        `${method} ${pathTemplate} ${status} does not conform to ${this.spec.id}:\n${errors.slice(0, 20).join('\n')}\n${JSON.stringify(body).slice(0, 2000)}`,
      );
    }
  }
}

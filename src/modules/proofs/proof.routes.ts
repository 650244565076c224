import express, { type Router } from 'express';
import type { ProofsService } from './proofs.service';

/**
 * `GET /proofs/keys/<kid>`: a tenant's proof-signing public key as a JWKS, so an export's anchor
 * can be checked against the key the gateway publishes, not only the one the file carries. The
 * kid is the key's JWK thumbprint: unguessable, and naming no tenant.
 */
export function proofRoutes(proofs: ProofsService): Router {
  const router = express.Router();
  router.get('/proofs/keys/:kid', async (req, res, next) => {
    try {
      const jwks = await proofs.publicKey(req.params.kid);
      if (!jwks) return void res.status(404).json({ error: 'NOT_FOUND', message: 'No proof-signing key with this id.' });
      res.set('cache-control', 'public, max-age=3600').type('application/jwk-set+json').send(JSON.stringify(jwks));
    } catch (err) {
      next(err);
    }
  });
  return router;
}

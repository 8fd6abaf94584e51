import { readFileSync } from 'node:fs';
import { CdcError, causeChain } from './errors.ts';

/** The TLS settings of one service, as configured (paths, not contents). */
export interface TlsFiles {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  insecure?: boolean | undefined;
}

/** What every TLS client we use (node:tls, mysql2, kafkajs, https agents) takes. */
export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

/** TLS options from configured files; verification stays on unless `insecure`. */
export function tlsOptions(files: TlsFiles): TlsOptions {
  return {
    ...(files.caFile ? { ca: readFileSync(files.caFile) } : {}),
    ...(files.certFile ? { cert: readFileSync(files.certFile) } : {}),
    ...(files.keyFile ? { key: readFileSync(files.keyFile) } : {}),
    rejectUnauthorized: !files.insecure,
  };
}

/** OpenSSL's verification codes as Node reports them, and what each means to an operator. */
const CERTIFICATE_PROBLEMS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate is not signed by a trusted CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed and not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'its certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is not signed by a trusted CA',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name the host connected to',
  CERT_REVOKED: 'its certificate was revoked',
};

// Some clients keep only the message of the TLS error (kafkajs: "Connection error: certificate has expired").
const MESSAGES: Array<[RegExp, string]> = [
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/i, 'CERT_NOT_YET_VALID'],
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get (local )?issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/Hostname\/IP does not match certificate's altnames/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
];

/** The certificate problem somewhere in an error's cause chain, if that is what failed. */
export function certificateProblem(error: unknown): string | undefined {
  for (const { code, message } of causeChain(error)) {
    if (typeof code === 'string' && CERTIFICATE_PROBLEMS[code]) return CERTIFICATE_PROBLEMS[code];
    if (typeof message === 'string') {
      for (const [pattern, known] of MESSAGES) if (pattern.test(message)) return CERTIFICATE_PROBLEMS[known];
    }
  }
  return undefined;
}

/**
 * TLS_CERT_INVALID when `error` is a failed certificate verification of `service`, naming the
 * setting that fixes it. Never retriable: the same certificate fails the same way next time.
 */
export function certificateError(error: unknown, service: string, caSetting: string): CdcError | undefined {
  const problem = certificateProblem(error);
  if (!problem) return undefined;
  return new CdcError('TLS_CERT_INVALID', `${service} failed TLS certificate verification (${caSetting}): ${problem}`, {
    cause: error,
    details: { service, setting: caSetting },
    hint: `Set ${caSetting} to the CA that signed ${service}'s certificate, or renew the certificate if it expired (or is issued for another host).`,
  });
}

// The TLS alerts a server sends when it refuses the client's certificate, or its absence (mutual TLS).
const CLIENT_CERTIFICATE_ALERTS: Array<[RegExp, string]> = [
  [/alert bad certificate|SSL alert number 42\b/i, 'it refused the client certificate, or requires one and none was sent'],
  [/alert certificate expired|SSL alert number 45\b/i, 'the client certificate has expired'],
  [/alert certificate unknown|SSL alert number 46\b/i, 'it does not trust the client certificate'],
  [/alert unknown ca|SSL alert number 48\b/i, 'it does not trust the CA that signed the client certificate'],
  [/alert certificate required|SSL alert number 116\b/i, 'it requires a client certificate and none was sent'],
];

/**
 * AUTH_FAILED when `service` ended the TLS handshake because of the client certificate given by
 * `certSettings` (missing, expired, or of a CA it does not trust). Without this, the closed
 * connection looks like an outage and would be retried forever.
 */
export function clientCertificateRefusal(error: unknown, service: string, certSettings: string): CdcError | undefined {
  for (const { message } of causeChain(error)) {
    if (typeof message !== 'string') continue;
    const alert = CLIENT_CERTIFICATE_ALERTS.find(([pattern]) => pattern.test(message));
    if (alert) return authError(error, service, certSettings, alert[1]);
  }
  return undefined;
}

/** AUTH_FAILED: `service` refused the credentials given by `settings` (`why`, when known). */
export function authError(error: unknown, service: string, settings: string, why?: string): CdcError {
  return new CdcError('AUTH_FAILED', `${service} refused the credentials (${settings})${why ? `: ${why}` : ''}`, {
    cause: error,
    details: { service, setting: settings },
    hint: `Check ${settings}.`,
  });
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RULES, type SecretRule } from "../../src/redact/rules";
import { SecretScrubber, scanJson, scanText, scrubSecrets } from "../../src/redact/scan";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = "0123456789abcdef";
const LOWER_ALNUM = LOWER + DIGITS;
const UPPER_ALNUM = UPPER + DIGITS;
const TOKEN = `${ALNUM}_-`;
const B64 = `${ALNUM}+/`;

// A fixed-seed generator: fake credentials look like real ones (mixed characters) and every run
// sees the same ones, while the repository holds no literal credential for scanners to flag.
let seed = 0x2545f491;
function fake(length: number, alphabet: string = ALNUM): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out += alphabet.charAt((seed >>> 8) % alphabet.length);
  }
  return out;
}

function uuid(): string {
  return [fake(8, HEX), fake(4, HEX), fake(4, HEX), fake(4, HEX), fake(12, HEX)].join("-");
}

function ruleById(id: string): SecretRule {
  const rule = RULES.find((r) => r.id === id);
  if (rule === undefined) throw new Error(`no rule ${id}`);
  return rule;
}

interface Sample {
  id: string;
  /** What must disappear. */
  secret: string;
  /** The text it appears in (the secret alone unless the rule needs its name next to it). */
  text: string;
}

function sample(id: string, secret: string, text: string = secret): Sample {
  return { id, secret, text };
}

const BEGIN = "-----BEGIN";
const END = "-----END";
const pemBody = Array.from({ length: 12 }, () => fake(64, B64)).join("\n");
const awsSecret = fake(40, B64);
const telegramToken = `${fake(10, DIGITS)}:A${fake(34, TOKEN)}`;

const SAMPLES: Sample[] = [
  sample("aws-access-key-id", `AKIA${fake(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")}`),
  sample("aws-secret-access-key", awsSecret, `AWS_SECRET_ACCESS_KEY=${awsSecret}`),
  sample("aws-amazon-bedrock-api-key-long-lived", `ABSK${fake(120, B64)}${fake(1)}`),
  sample("github-pat", `ghp_${fake(36)}`),
  sample("github-fine-grained-pat", `github_pat_${fake(22)}_${fake(59)}`),
  sample("github-oauth", `gho_${fake(36)}`),
  sample("github-app-token", `ghs_${fake(36)}`),
  sample("github-refresh-token", `ghr_${fake(36)}`),
  sample("gitlab-pat", `glpat-${fake(20, TOKEN)}`),
  sample("gitlab-pat-routable", `glpat-${fake(36)}.01${fake(7, LOWER_ALNUM)}`),
  sample("gitlab-ptt", `glptt-${fake(40, HEX)}`),
  sample("gitlab-rrt", `GR1348941${fake(20, TOKEN)}`),
  sample("gitlab-runner-authentication-token", `glrt-${fake(20, TOKEN)}`),
  sample("gitlab-runner-authentication-token-routable", `glrt-t1_${fake(30)}.01${fake(7, LOWER)}`),
  sample("gitlab-cicd-job-token", `glcbt-${fake(3)}_${fake(20, TOKEN)}`),
  sample("gitlab-deploy-token", `gldt-${fake(20, TOKEN)}`),
  sample("gitlab-feature-flag-client-token", `glffct-${fake(20, TOKEN)}`),
  sample("gitlab-feed-token", `glft-${fake(20, TOKEN)}`),
  sample("gitlab-incoming-mail-token", `glimt-${fake(25, TOKEN)}`),
  sample("gitlab-kubernetes-agent-token", `glagent-${fake(50, TOKEN)}`),
  sample("gitlab-oauth-app-secret", `gloas-${fake(64, TOKEN)}`),
  sample("gitlab-scim-token", `glsoat-${fake(20, TOKEN)}`),
  (() => {
    const cookie = fake(32, LOWER_ALNUM);
    return sample("gitlab-session-cookie", cookie, `Cookie: _gitlab_session=${cookie}`);
  })(),
  sample("private-key", `${BEGIN} RSA PRIVATE KEY-----\n${pemBody}\n${END} RSA PRIVATE KEY-----`),
  sample("jwt", `eyJ${fake(33)}.eyJ${fake(60)}.${fake(43, TOKEN)}${fake(1)}`),
  sample("jwt-base64", `ZXlKaGJHY2lPaU${fake(80, B64)}`),
  sample("age-secret-key", `AGE-SECRET-KEY-1${fake(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")}`),
  sample(
    "1password-secret-key",
    `A3-${fake(6, UPPER_ALNUM)}-${fake(11, UPPER_ALNUM)}-${fake(5, UPPER_ALNUM)}-${fake(5, UPPER_ALNUM)}-${fake(5, UPPER_ALNUM)}`,
  ),
  sample("1password-service-account-token", `ops_eyJ${fake(300, B64)}`),
  sample("slack-bot-token", `xoxb-${fake(11, DIGITS)}-${fake(12, DIGITS)}-${fake(24)}`),
  sample(
    "slack-user-token",
    `xoxp-${fake(12, DIGITS)}-${fake(12, DIGITS)}-${fake(12, DIGITS)}-${fake(32, HEX)}`,
  ),
  sample(
    "slack-app-token",
    `xapp-1-A${fake(10, UPPER_ALNUM)}-${fake(13, DIGITS)}-${fake(64, HEX)}`,
  ),
  sample("slack-config-access-token", `xoxe.xoxp-1-${fake(164, UPPER_ALNUM)}`),
  sample("slack-config-refresh-token", `xoxe-1-${fake(146, UPPER_ALNUM)}`),
  sample("slack-legacy-bot-token", `xoxb-${fake(10, DIGITS)}-${fake(24)}`),
  sample(
    "slack-legacy-token",
    `xoxs-${fake(10, DIGITS)}-${fake(10, DIGITS)}-${fake(10, DIGITS)}-${fake(64, HEX)}`,
  ),
  sample("slack-legacy-workspace-token", `xoxr-${fake(40)}`),
  sample(
    "slack-webhook-url",
    `https://hooks.slack.com/services/T${fake(8, UPPER_ALNUM)}/B${fake(8, UPPER_ALNUM)}/${fake(24)}`,
  ),
  sample("openai-api-key", `sk-proj-${fake(74)}T3BlbkFJ${fake(74)}`),
  sample("anthropic-api-key", `sk-ant-api03-${fake(93, TOKEN)}AA`),
  sample("anthropic-admin-api-key", `sk-ant-admin01-${fake(93, TOKEN)}AA`),
  sample("huggingface-access-token", `hf_${fake(34, UPPER + LOWER)}`),
  sample("huggingface-organization-api-token", `api_org_${fake(34, UPPER + LOWER)}`),
  sample("perplexity-api-key", `pplx-${fake(48)}`),
  sample("gcp-api-key", `AIza${fake(35, TOKEN)}`),
  (() => {
    const keyId = fake(40, HEX);
    return sample(
      "gcp-service-account",
      keyId,
      `{"type": "service_account", "project_id": "demo", "private_key_id": "${keyId}"}`,
    );
  })(),
  (() => {
    const secret = `${fake(3)}8Q~${fake(34, `${ALNUM}_~.`)}`;
    return sample("azure-ad-client-secret", secret, `client_secret="${secret}"`);
  })(),
  (() => {
    const key = `${fake(86, B64)}==`;
    return sample(
      "azure-storage-account-key",
      key,
      `DefaultEndpointsProtocol=https;AccountName=demo;AccountKey=${key};EndpointSuffix=core.windows.net`,
    );
  })(),
  sample("npm-access-token", `npm_${fake(36)}`),
  sample("pypi-upload-token", `pypi-AgEIcHlwaS5vcmc${fake(70, TOKEN)}`),
  sample("rubygems-api-token", `rubygems_${fake(48, HEX)}`),
  sample("clojars-api-token", `CLOJARS_${fake(60, LOWER_ALNUM)}`),
  sample("artifactory-api-key", `AKCp${fake(69)}`),
  sample("artifactory-reference-token", `cmVmd${fake(59)}`),
  sample("stripe-access-token", `sk_live_${fake(99)}`),
  sample("square-access-token", `sq0atp-${fake(22, TOKEN)}${fake(1)}`),
  sample("shippo-api-token", `shippo_live_${fake(40, HEX)}`),
  sample("sendgrid-api-token", `SG.${fake(22, TOKEN)}.${fake(42, TOKEN)}${fake(1)}`),
  sample("sendinblue-api-token", `xkeysib-${fake(64, HEX)}-${fake(16)}`),
  sample("twilio-api-key", `SK${fake(32, HEX)}`),
  (() => {
    const key = `key-${fake(32, HEX)}`;
    return sample("mailgun-private-api-token", key, `MAILGUN_API_KEY=${key}`);
  })(),
  (() => {
    const key = `pubkey-${fake(32, HEX)}`;
    return sample("mailgun-pub-key", key, `mailgun_public_key: "${key}"`);
  })(),
  (() => {
    const ah = "abcdefgh0123456789";
    const key = `${fake(32, ah)}-${fake(8, ah)}-${fake(8, ah)}`;
    return sample("mailgun-signing-key", key, `mailgun.signingKey = '${key}'`);
  })(),
  (() => {
    const key = `${fake(32, HEX)}-us12`;
    return sample("mailchimp-api-key", key, `MAILCHIMP_API_KEY=${key}`);
  })(),
  (() => {
    const key = fake(64, HEX);
    return sample("discord-api-token", key, `DISCORD_TOKEN=${key}`);
  })(),
  (() => {
    const key = fake(31, TOKEN.replace("-", "")) + fake(1);
    return sample("discord-client-secret", key, `discord_client_secret: "${key}"`);
  })(),
  sample("telegram-bot-api-token", telegramToken, `TELEGRAM_BOT_TOKEN=${telegramToken}`),
  sample(
    "telegram-bot-api-token-url",
    telegramToken,
    `GET https://api.telegram.org/bot${telegramToken}/sendMessage`,
  ),
  (() => {
    const token = `${"A".repeat(22)}${fake(90)}`;
    return sample("twitter-bearer-token", token, `TWITTER_BEARER_TOKEN=${token}`);
  })(),
  sample("facebook-page-access-token", `EAAM${fake(120)}`),
  (() => {
    const key = uuid();
    return sample("heroku-api-key", key, `HEROKU_API_KEY=${key}`);
  })(),
  sample("heroku-api-key-v2", `HRKU-AA${fake(57, TOKEN)}${fake(1)}`),
  sample("digitalocean-access-token", `doo_v1_${fake(64, HEX)}`),
  sample("digitalocean-pat", `dop_v1_${fake(64, HEX)}`),
  sample("digitalocean-refresh-token", `dor_v1_${fake(64, HEX)}`),
  sample("shopify-access-token", `shpat_${fake(32, HEX)}`),
  sample("shopify-custom-access-token", `shpca_${fake(32, HEX)}`),
  sample("shopify-private-app-access-token", `shppa_${fake(32, HEX)}`),
  sample("shopify-shared-secret", `shpss_${fake(32, HEX)}`),
  (() => {
    const token = fake(40);
    return sample("cloudflare-api-key", token, `CLOUDFLARE_API_TOKEN=${token}`);
  })(),
  (() => {
    const key = fake(37, HEX);
    return sample("cloudflare-global-api-key", key, `cloudflare_global_api_key = "${key}"`);
  })(),
  sample("cloudflare-origin-ca-key", `v1.0-${fake(24, HEX)}-${fake(146, HEX)}`),
  (() => {
    const token = fake(32);
    return sample("fastly-api-token", token, `FASTLY_API_TOKEN: ${token}`);
  })(),
  sample("flyio-access-token", `fo1_${fake(42, TOKEN)}${fake(1)}`),
  sample("scalingo-api-token", `tk-us-${fake(47, TOKEN)}${fake(1)}`),
  sample("openshift-user-token", `sha256~${fake(42, TOKEN)}${fake(1)}`),
  sample("alibaba-access-key-id", `LTAI${fake(20)}`),
  sample("adobe-client-secret", `p8e-${fake(32)}`),
  sample("atlassian-api-token", `ATATT3${fake(185, TOKEN)}${fake(1)}`),
  (() => {
    const token = `00${fake(40)}`;
    return sample("okta-access-token", token, `OKTA_API_TOKEN="${token}"`);
  })(),
  sample("harness-api-key", `pat.${fake(22, TOKEN)}.${fake(24)}.${fake(20)}`),
  sample("vault-service-token", `hvs.${fake(94, TOKEN)}${fake(1)}`),
  sample("vault-batch-token", `hvb.${fake(149, TOKEN)}${fake(1)}`),
  sample("hashicorp-tf-api-token", `${fake(14)}.atlasv1.${fake(64, `${TOKEN}=`)}`),
  sample("doppler-api-token", `dp.pt.${fake(43)}`),
  sample("databricks-api-token", `dapi${fake(32, HEX)}`),
  sample("planetscale-api-token", `pscale_tkn_${fake(42, TOKEN)}${fake(1)}`),
  sample("planetscale-oauth-token", `pscale_oauth_${fake(42, TOKEN)}${fake(1)}`),
  sample("planetscale-password", `pscale_pw_${fake(42, TOKEN)}${fake(1)}`),
  sample("dynatrace-api-token", `dt0c01.${fake(24)}.${fake(64)}`),
  (() => {
    const key = fake(40, LOWER_ALNUM);
    return sample("datadog-access-token", key, `DATADOG_APP_KEY=${key}`);
  })(),
  (() => {
    const key = `NRAK-${fake(27, UPPER_ALNUM)}`;
    return sample("new-relic-user-api-key", key, `NEW_RELIC_API_KEY=${key}`);
  })(),
  sample("grafana-api-key", `eyJrIjoi${fake(90)}`),
  sample("grafana-cloud-api-token", `glc_${fake(60)}`),
  sample("grafana-service-account-token", `glsa_${fake(32)}_${fake(8, HEX)}`),
  sample("sentry-user-token", `sntryu_${fake(64, HEX)}`),
  sample(
    "sentry-org-token",
    `sntrys_eyJpYXQiO${fake(30, B64)}LCJyZWdpb25fdXJs${fake(40, B64)}_${fake(43, B64)}`,
  ),
  sample("maxmind-license-key", `${fake(6)}_${fake(29)}_mmk`),
  sample("linear-api-key", `lin_api_${fake(40)}`),
  sample("notion-api-token", `ntn_${fake(11, DIGITS)}${fake(35)}`),
  sample("postman-api-token", `PMAK-${fake(24, HEX)}-${fake(34, HEX)}`),
  sample("prefect-api-token", `pnu_${fake(36)}`),
  sample("pulumi-api-token", `pul-${fake(40, HEX)}`),
  sample("readme-api-token", `rdme_${fake(70, LOWER_ALNUM)}`),
  sample("infracost-api-token", `ico-${fake(32)}`),
  sample("duffel-api-token", `duffel_test_${fake(43, TOKEN)}`),
  sample("easypost-api-token", `EZAK${fake(54)}`),
  sample("easypost-test-api-token", `EZTK${fake(54)}`),
];

describe("rule set", () => {
  it("has unique ids and at least 40 rules", () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(40);
  });

  it("uses the kinds the design names for AWS, GitHub and private keys", () => {
    expect(ruleById("aws-access-key-id").kind).toBe("aws-access-key-id");
    expect(ruleById("private-key").kind).toBe("private-key");
    for (const id of [
      "github-pat",
      "github-fine-grained-pat",
      "github-oauth",
      "github-app-token",
      "github-refresh-token",
    ]) {
      expect(ruleById(id).kind).toBe("github-token");
    }
  });

  it.each(RULES.map((r) => [r.id, r] as const))(
    "%s compiles with at most one capturing group, lower-case keywords and only the i flag",
    (_id, rule) => {
      expect(rule.flags ?? "").toMatch(/^i?$/);
      expect(rule.keywords.length).toBeGreaterThan(0);
      for (const k of rule.keywords) expect(k).toBe(k.toLowerCase());
      const groups = new RegExp(`${rule.pattern}|`, rule.flags).exec("");
      expect(groups === null ? 0 : groups.length - 1).toBeLessThanOrEqual(1);
    },
  );

  it("has a realistic sample for every rule", () => {
    const sampled = new Set(SAMPLES.map((s) => s.id));
    expect(RULES.map((r) => r.id).filter((id) => !sampled.has(id))).toEqual([]);
  });
});

describe("scanText", () => {
  it.each(SAMPLES.map((s) => [s.id, s] as const))(
    "redacts a %s credential with its kind",
    (_id, { id, secret, text }) => {
      const rule = ruleById(id);
      expect(new RegExp(rule.pattern, rule.flags).test(text)).toBe(true);
      const out = scanText(`output: ${text}\nnext line`, "logs");
      expect(out.text).not.toContain(secret);
      expect(out.text).toContain(`[REDACTED:${rule.kind}]`);
      expect(out.redactions).toContainEqual({ kind: rule.kind, where: "logs" });
    },
  );

  it("keeps the text around a credential and reports each kind once per call", () => {
    const a = `ghp_${fake(36)}`;
    const b = `gho_${fake(36)}`;
    const out = scanText(`first ${a}, then (${b}) done`, "result");
    expect(out.text).toBe("first [REDACTED:github-token], then ([REDACTED:github-token]) done");
    expect(out.redactions).toEqual([{ kind: "github-token", where: "result" }]);
  });

  it("keeps the name in a name = value pair and redacts only the value", () => {
    const out = scanText(`export AWS_SECRET_ACCESS_KEY="${awsSecret}"`, "error");
    expect(out.text).toBe('export AWS_SECRET_ACCESS_KEY="[REDACTED:aws-secret-access-key]"');
    expect(out.redactions).toEqual([{ kind: "aws-secret-access-key", where: "error" }]);
  });

  it("redacts a private key whose newlines are JSON-escaped", () => {
    const pem = `${BEGIN} PRIVATE KEY-----\n${pemBody}\n${END} PRIVATE KEY-----\n`;
    const json = JSON.stringify({ private_key: pem });
    const out = scanText(json, "result");
    expect(out.text).toBe('{"private_key":"[REDACTED:private-key]\\n"}');
  });

  it("redacts the body of a private key whose end marker was cut off", () => {
    const out = scanText(`${BEGIN} EC PRIVATE KEY-----\n${pemBody.slice(0, 200)}`, "logs");
    expect(out.text).toBe("[REDACTED:private-key]");
  });

  it("leaves a JSON-escaped quote after a JWT intact", () => {
    const jwt = `eyJ${fake(20)}.eyJ${fake(30)}.${fake(43)}`;
    const out = scanText(JSON.stringify(JSON.stringify({ token: jwt })), "logs");
    expect(out.text).toBe('"{\\"token\\":\\"[REDACTED:jwt]\\"}"');
  });

  it.each([
    ["a short ghp_ prefix", "see ghp_short for details"],
    ["a truncated GitHub token", `ghp_${fake(20)}`],
    ["an AWS-like id that is too short", `AKIA${fake(12, UPPER)}`],
    ["a test-mode word that is not a Stripe key", "sk_test_short"],
    ["a Slack prefix without a token", "xoxb-123"],
    ["a UUID", uuid()],
    ["a git sha", `commit ${fake(40, HEX)}`],
    ["a container digest", `sha256:${fake(64, HEX)}`],
    ["a public key block", `${BEGIN} PUBLIC KEY-----\n${pemBody}\n${END} PUBLIC KEY-----`],
    ["a certificate", `${BEGIN} CERTIFICATE-----\n${pemBody}\n${END} CERTIFICATE-----`],
    ["prose about keys", "They keyed the private key into the vault; the secret is safe."],
    ["a URL with a query", "https://example.com/api/v1/items?page=2&sort=desc#top"],
    ["an email address", "someone@example.com"],
  ])("does not redact %s", (_name, text) => {
    expect(scanText(text, "logs")).toEqual({ text, redactions: [] });
  });

  it("does not redact an ordinary base64-encoded image", () => {
    const bytes = new Uint8Array(30_000);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    for (let i = 8; i < bytes.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bytes[i] = seed >>> 24;
    }
    const image = `data:image/png;base64,${toBase64(bytes)}`;
    expect(scanText(image, "result")).toEqual({ text: image, redactions: [] });
  });
});

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function base64Of(text: string): string {
  return toBase64(new TextEncoder().encode(text));
}

const MARK = "[REDACTED:secret]";

/** Whether eight or more base64 characters that encode `value` alone remain in `text`. */
function leaksBase64(text: string, value: string): boolean {
  const bytes = new TextEncoder().encode(value);
  for (let offset = 0; offset < 3; offset++) {
    const shifted = new Uint8Array(offset + bytes.length);
    shifted.set(bytes, offset);
    const core = toBase64(shifted).slice(Math.ceil((8 * offset) / 6) + 1, -3);
    for (let i = 0; i + 8 <= core.length; i++) {
      if (text.includes(core.slice(i, i + 8))) return true;
    }
  }
  return false;
}

describe("scrubSecrets", () => {
  const secret = "s3cr3t-Value+with/odd=chars";

  it("replaces every plain occurrence", () => {
    expect(scrubSecrets(`a ${secret} b ${secret}`, [secret])).toBe(`a ${MARK} b ${MARK}`);
  });

  it("replaces the standard and url-safe base64 forms, padded and unpadded", () => {
    const value = "ab?>cd~~"; // encodes to characters that differ between the two alphabets
    const standard = base64Of(value);
    const urlSafe = standard.replaceAll("+", "-").replaceAll("/", "_");
    expect(standard).not.toBe(urlSafe);
    for (const form of [
      standard,
      standard.replace(/=+$/, ""),
      urlSafe,
      urlSafe.replace(/=+$/, ""),
    ]) {
      expect(scrubSecrets(`x ${form} y`, [value])).toBe(`x ${MARK} y`);
    }
  });

  it.each([0, 1, 2, 3, 4, 5, 7, 11])(
    "finds the secret inside a larger base64 blob when %i bytes precede it",
    (before) => {
      const prefix = fake(before);
      const suffix = fake(9);
      const blob = base64Of(`${prefix}${secret}${suffix}`);
      const out = scrubSecrets(`Authorization: Basic ${blob}`, [secret]);
      const match =
        /^Authorization: Basic ([A-Za-z0-9+/=]*)\[REDACTED:secret\]([A-Za-z0-9+/=]*)$/.exec(out);
      expect(match).not.toBeNull();
      // Only the characters that encode neighbouring bytes (and one mixed character) remain.
      expect(match?.[1]?.length ?? Infinity).toBeLessThanOrEqual(Math.ceil((before * 8) / 6) + 1);
      expect(match?.[2]?.length ?? Infinity).toBeLessThanOrEqual(
        Math.ceil((suffix.length * 8) / 6) + 3,
      );
    },
  );

  it("finds a non-ASCII secret by its UTF-8 base64 form", () => {
    const value = "pässwörd-ünïcode-✓";
    const out = scrubSecrets(base64Of(`user:${value}`), [value]);
    expect(out).toContain(MARK);
    expect(out.length).toBeLessThan(base64Of(`user:${value}`).length);
  });

  it("replaces the percent-encoded form in a URL", () => {
    const value = "p@ss/w:rd&x=1 y";
    const url = `https://api.example.com/v1?key=${encodeURIComponent(value)}&page=2`;
    expect(scrubSecrets(url, [value])).toBe(`https://api.example.com/v1?key=${MARK}&page=2`);
  });

  it("replaces the form-encoded spelling produced by URLSearchParams", () => {
    const value = "two words & more";
    const query = new URLSearchParams({ q: value }).toString();
    expect(scrubSecrets(query, [value])).toBe(`q=${MARK}`);
  });

  it("replaces the JSON-escaped form, also when escaped twice", () => {
    const value = 'quote"back\\slash\nnewline';
    const once = JSON.stringify({ token: value });
    expect(scrubSecrets(once, [value])).toBe(`{"token":"${MARK}"}`);
    const twice = JSON.stringify(once);
    expect(scrubSecrets(twice, [value])).toBe(JSON.stringify(`{"token":"${MARK}"}`));
  });

  it("replaces a value written with JSON \\u escapes, every character or only some", () => {
    const value = "s3cr3t-VALUE-123";
    const uEscape = (c: string, upper: boolean) => {
      const hex = c.charCodeAt(0).toString(16).padStart(4, "0");
      return `\\u${upper ? hex.toUpperCase() : hex}`;
    };
    const every = [...value].map((c) => uEscape(c, false)).join("");
    const some = [...value].map((c, i) => (i % 3 === 1 ? uEscape(c, true) : c)).join("");
    for (const spelled of [every, some]) {
      expect(scrubSecrets(`{"t":"${spelled}"}`, [value])).toBe(`{"t":"${MARK}"}`);
      // Escaped once more, as JSON inside a JSON string.
      const twice = JSON.stringify(`{"t":"${spelled}"}`);
      expect(scrubSecrets(twice, [value])).toBe(JSON.stringify(`{"t":"${MARK}"}`));
    }
  });

  it("replaces a value percent-encoded in any mix of characters and hex case", () => {
    const value = "s3cr3t-VALUE-123";
    const pct = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
    for (const spelled of [
      "s3cr3t%2DVALUE%2D123",
      "s3cr3t%2dVALUE%2d123",
      [...value].map(pct).join(""),
      [...value].map((c, i) => (i % 2 ? pct(c).toUpperCase() : c)).join(""),
    ]) {
      const url = `https://unbound.example/cb?code=${spelled}&x=1`;
      expect(scrubSecrets(url, [value])).toBe(`https://unbound.example/cb?code=${MARK}&x=1`);
    }
  });

  it.each([
    [64, "\n"],
    [76, "\r\n"],
    [76, "\n"],
  ])("replaces base64 wrapped at %i columns (%j) at any offset", (width, eol) => {
    const value = "s3cr3t-VALUE-123-and-some-more-to-wrap";
    // 40 to 45 bytes before it: the value's characters straddle a line break.
    for (let before = 40; before < 46; before++) {
      const encoded = base64Of(`${fake(before)}${value}${fake(70)}`);
      const wrapped = encoded.match(new RegExp(`.{1,${width}}`, "g"))?.join(eol) ?? "";
      const out = scrubSecrets(`-----BEGIN DATA-----${eol}${wrapped}${eol}`, [value]);
      expect(out, `${before} bytes before`).toContain(MARK);
      expect(leaksBase64(out.replace(/\r?\n/g, ""), value), `${before} bytes before`).toBe(false);
    }
  });

  it("ignores values shorter than four characters", () => {
    expect(scrubSecrets("abc and abc", ["abc", "", "xy"])).toBe("abc and abc");
  });

  it("merges overlapping secrets into one marker", () => {
    expect(scrubSecrets("[abcd1234wxyz]", ["abcd1234", "1234wxyz"])).toBe(`[${MARK}]`);
  });

  it("never rewrites the marker of another secret", () => {
    expect(scrubSecrets("token hunter22 secret", ["hunter22", "secret", "REDACTED"])).toBe(
      `token ${MARK} ${MARK}`,
    );
  });

  it("returns the text unchanged when no value occurs", () => {
    expect(scrubSecrets("nothing to see", [secret])).toBe("nothing to see");
  });
});

describe("scanJson", () => {
  it("walks nested objects and arrays, keys included, without changing the input", () => {
    const token = `ghp_${fake(36)}`;
    const keyToken = `gho_${fake(36)}`;
    const aws = `AKIA${fake(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")}`;
    const input = {
      a: [{ b: token }, "plain", 1, null, true],
      [keyToken]: { c: [[`id=${aws}`]] },
      n: 3.5,
    };
    const before = JSON.stringify(input);
    const out = scanJson(input, "result");
    expect(out.value).toEqual({
      a: [{ b: "[REDACTED:github-token]" }, "plain", 1, null, true],
      "[REDACTED:github-token]": { c: [["id=[REDACTED:aws-access-key-id]"]] },
      n: 3.5,
    });
    expect(out.redactions).toHaveLength(2);
    expect(out.redactions).toContainEqual({ kind: "github-token", where: "result" });
    expect(out.redactions).toContainEqual({ kind: "aws-access-key-id", where: "result" });
    expect(JSON.stringify(input)).toBe(before);
  });

  it("redacts a value recognised by the name of its key", () => {
    const out = scanJson(
      { env: { AWS_SECRET_ACCESS_KEY: awsSecret, region: "eu-west-1" } },
      "result",
    );
    expect(out.value).toEqual({
      env: { AWS_SECRET_ACCESS_KEY: "[REDACTED:aws-secret-access-key]", region: "eu-west-1" },
    });
    expect(out.redactions).toEqual([{ kind: "aws-secret-access-key", where: "result" }]);
  });

  it("returns primitives and plain strings as they are", () => {
    expect(scanJson(42, "result")).toEqual({ value: 42, redactions: [] });
    expect(scanJson(null, "result")).toEqual({ value: null, redactions: [] });
    expect(scanJson("hello", "result")).toEqual({ value: "hello", redactions: [] });
    expect(scanJson(`ghp_${fake(36)}`, "error")).toEqual({
      value: "[REDACTED:github-token]",
      redactions: [{ kind: "github-token", where: "error" }],
    });
  });

  it("keeps a __proto__ key as an ordinary property", () => {
    const input = JSON.parse(`{"__proto__": {"t": "ghp_${fake(36)}"}}`);
    const out = scanJson(input, "result");
    expect(Object.getPrototypeOf(out.value)).toBe(Object.prototype);
    expect(JSON.stringify(out.value)).toBe('{"__proto__":{"t":"[REDACTED:github-token]"}}');
  });

  it("handles nesting deeper than the call stack", () => {
    let value: unknown = `ghp_${fake(36)}`;
    for (let i = 0; i < 200_000; i++) value = [value];
    let inner = scanJson(value, "result").value;
    while (Array.isArray(inner)) inner = inner[0];
    expect(inner).toBe("[REDACTED:github-token]");
  });
});

describe("hostile input terminates", () => {
  it.each([
    ["repeated PEM header starts", "-----BEGIN ".repeat(10_000)],
    ["repeated private key headers", `${BEGIN} PRIVATE KEY-----`.repeat(4_000)],
    ["repeated JWT starts", "eyJ".repeat(50_000)],
    ["one long JWT-like first part", `ey${"A".repeat(100_000)}.ey`],
    ["JWT-like parts without an end", `eyJ${"a".repeat(20)}.`.repeat(4_000)],
    ["repeated names without values", "mailgun = ".repeat(10_000)],
    ["a name followed by blanks", `discord${" ".repeat(100_000)}`],
    ["long runs of token characters", `ghp_${"A".repeat(100_000)}`],
    ["a base64 run after a service token prefix", `ops_eyJ${"A".repeat(100_000)}!`],
    ["routable GitLab tokens without a dot", `glpat-${"a".repeat(100_000)}`],
    ["a long line of digits", `xoxs-${"1-".repeat(50_000)}`],
  ])("for %s", (_name, text) => {
    const out = scanText(text, "logs");
    expect(typeof out.text).toBe("string");
  });

  it("for every rule keyword repeated and assigned", { timeout: 60_000 }, () => {
    const keywords = new Set(RULES.flatMap((r) => r.keywords));
    for (const keyword of keywords) {
      for (const unit of [keyword, `${keyword} = `, `${keyword}A`]) {
        const text = unit.repeat(Math.ceil(50_000 / unit.length));
        expect(typeof scanText(text, "logs").text).toBe("string");
      }
    }
  });

  it("for 1 MiB of random-ish text", { timeout: 60_000 }, () => {
    const pieces = [
      "the",
      "key",
      "token",
      "secret",
      "=",
      ": ",
      '"',
      "\n",
      "eyJ",
      ".",
      "-----BEGIN ",
      "PRIVATE KEY-----",
      "sk_live_",
      "AKIA",
      "ghp_",
      "xoxb-",
      "mailgun",
      "s.",
      "SK",
    ];
    const parts: string[] = [];
    let length = 0;
    while (length < 1 << 20) {
      const piece =
        fake(1, "0123") === "0"
          ? fake(1 + (seed % 60), `${B64}_-. `)
          : (pieces[seed % pieces.length] ?? "");
      parts.push(piece);
      length += piece.length;
    }
    const text = parts.join("");
    const out = scanText(text, "result");
    expect(typeof out.text).toBe("string");
    expect(scrubSecrets(text, ["hunter2hunter2", awsSecret]).length).toBeGreaterThan(0);
  });
});

describe("SecretScrubber (streams)", () => {
  const secret = "s3cr3t-Value+with/odd=chars";
  const text = `head ${secret} mid ${btoa(secret)} tail ${encodeURIComponent(secret)} end`;

  it("scrubs a secret split across two chunks at any point as scrubSecrets does whole", () => {
    const whole = scrubSecrets(text, [secret]);
    for (let cut = 0; cut <= text.length; cut++) {
      const scrubber = new SecretScrubber([secret]);
      const out =
        scrubber.push(text.slice(0, cut)) + scrubber.push(text.slice(cut)) + scrubber.flush();
      expect(out, `cut at ${cut}`).toBe(whole);
    }
  });

  it("scrubs a secret that arrives one character at a time", () => {
    const scrubber = new SecretScrubber([secret]);
    let out = "";
    for (const c of text) out += scrubber.push(c);
    expect(out + scrubber.flush()).toBe(scrubSecrets(text, [secret]));
  });

  it("scrubs every spelling it knows split into chunks at any points as scrubSecrets does whole", () => {
    const value = "s3cr3t-VALUE-123";
    const spelling = fc.oneof(
      fc.constant(value),
      fc
        .array(fc.boolean(), { minLength: value.length, maxLength: value.length })
        .map((mask) =>
          [...value]
            .map((c, i) => (mask[i] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}` : c))
            .join(""),
        ),
      fc
        .array(fc.boolean(), { minLength: value.length, maxLength: value.length })
        .map((mask) =>
          [...value].map((c, i) => (mask[i] ? `%${c.charCodeAt(0).toString(16)}` : c)).join(""),
        ),
      fc
        .record({
          before: fc.nat(5),
          width: fc.constantFrom(64, 76),
          eol: fc.constantFrom("\n", "\r\n"),
        })
        .map(({ before, width, eol }) =>
          (
            base64Of(`${"x".repeat(before)}${value}yz`).match(new RegExp(`.{1,${width}}`, "g")) ??
            []
          ).join(eol),
        ),
    );
    const noise = fc.string({
      unit: fc.constantFrom("a", "Z", "%", "\\", "u", "0", "\n", "-", " "),
    });
    fc.assert(
      fc.property(noise, spelling, noise, fc.array(fc.nat(), { maxLength: 6 }), (a, s, b, cuts) => {
        const text = `${a} ${s} ${b}`;
        const scrubber = new SecretScrubber([value]);
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((x, y) => x - y);
        let out = "";
        let at = 0;
        for (const p of points) {
          out += scrubber.push(text.slice(at, p));
          at = p;
        }
        out += scrubber.push(text.slice(at)) + scrubber.flush();
        expect(out).toBe(scrubSecrets(text, [value]));
        expect(out).toContain(MARK);
      }),
      { seed: 20261206, numRuns: 300 },
    );
  });

  it("scrubs a non-ASCII value from bytes read one char per byte, plain and \\u-escaped", () => {
    const value = "pässwörd-✓-ünï";
    const binary = (text: string) => String.fromCharCode(...new TextEncoder().encode(text));
    const escaped = JSON.stringify(value).replace(
      /[^\x20-\x7e]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
    const scrubber = new SecretScrubber([value]);
    const out = scrubber.push(binary(`a ${value} b ${escaped} c`)) + scrubber.flush();
    expect(out).toBe(`a ${MARK} b "${MARK}" c`);
  });

  it("holds back only a short tail when nothing could begin a secret, however long the secret", () => {
    const long = fake(600, B64);
    const scrubber = new SecretScrubber([long]);
    const out = scrubber.push(`${"-".repeat(10_000)}`);
    expect(out.length).toBeGreaterThanOrEqual(10_000 - 128);
    expect(out + scrubber.flush()).toBe("-".repeat(10_000));
  });

  it("passes text through untouched and holds nothing back without secrets", () => {
    const scrubber = new SecretScrubber([]);
    expect(scrubber.idle).toBe(true);
    expect(scrubber.push("abc")).toBe("abc");
    expect(scrubber.holding).toBe(false);
  });
});

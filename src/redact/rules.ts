/*
 * Credential formats recognised in execution output.
 *
 * Source: the default gitleaks config, github.com/gitleaks/gitleaks `config/gitleaks.toml`
 * (MIT licence, Copyright (c) 2019 Zachary Rice), read at commit
 * b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b (master after v8.30.0; the config file last changed in
 * 09242ce9c8a60d9b051fc2d166f9e849b88c7ac0). Rule ids and keywords are gitleaks' own (except
 * `aws-access-key-id`, which gitleaks calls `aws-access-token`); the patterns were translated from
 * Go RE2 to JavaScript rather than copied verbatim wherever the syntax or the purpose differs:
 * - inline `(?i)` / `(?-i:…)` became the `i` flag or explicit character classes;
 * - the trailing delimiter group `(?:[\x60'"\s;]|\\[nr]|$)` became the zero-width look-ahead END
 *   (no word character or dash follows), so the delimiter is not consumed and a token followed by
 *   `,`, `)` or `&` is still caught;
 * - the leading `[\w.-]{0,50}?` of the "keyword = value" rules was dropped (it only widened the
 *   match to the variable name); those rules capture the secret in group 1, and only group 1 is
 *   redacted; they also accept JSON-escaped quotes (`\"`) around the value;
 * - the private-key body is bounded, and a header with no footer (truncated output) still redacts
 *   the base64 that follows it;
 * - gitleaks' entropy thresholds and allowlists are not applied: redacting a false positive costs
 *   less than leaking a real credential.
 * Rules marked "Cordon" have no gitleaks counterpart.
 *
 * Invariants the scanner relies on (checked by the tests): at most one capturing group; every
 * match contains at least one of `keywords` (lower case) when compared case-insensitively; flags
 * are "" or "i"; no quantified group contains another unbounded quantifier over overlapping input.
 */

export interface SecretRule {
  /** gitleaks rule id (or a Cordon id where gitleaks has none). */
  id: string;
  /** What a redaction reports: several rules of one provider share a kind. */
  kind: string;
  description: string;
  /** JavaScript regular expression source; if it has a capturing group, only that is redacted. */
  pattern: string;
  flags?: string;
  /** Lower-case substrings, one of which every match contains; the rule is skipped otherwise. */
  keywords: string[];
}

const END = String.raw`(?![\w-])`;

/** `name … = value`, gitleaks' semi-generic shape: the name must be within 20 characters. */
function assigned(names: string, secret: string, end: string = END): string {
  return String.raw`(?:${names})[ \t\w.-]{0,20}[\s'"\\]{0,4}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=\\]{0,6}(${secret})${end}`;
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

export const RULES: readonly SecretRule[] = [
  // Amazon Web Services
  {
    id: "aws-access-key-id",
    kind: "aws-access-key-id",
    description: "AWS access key id",
    pattern: String.raw`\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b`,
    keywords: ["a3t", "akia", "asia", "abia", "acca"],
  },
  {
    id: "aws-secret-access-key",
    kind: "aws-secret-access-key",
    description: "AWS secret access key next to its name (Cordon)",
    pattern: assigned(
      "(?:aws[_.-]?)?secret[_.-]?access[_.-]?key|aws[_.-]?secret(?:[_.-]?key)?",
      "[A-Za-z0-9/+]{40}",
      "(?![A-Za-z0-9/+=])",
    ),
    flags: "i",
    keywords: ["secret"],
  },
  {
    id: "aws-amazon-bedrock-api-key-long-lived",
    kind: "aws-bedrock-api-key",
    description: "Amazon Bedrock long-lived API key",
    pattern: String.raw`\bABSK[A-Za-z0-9+/]{109,269}={0,2}${END}`,
    keywords: ["absk"],
  },

  // GitHub
  {
    id: "github-pat",
    kind: "github-token",
    description: "GitHub personal access token (classic)",
    pattern: "ghp_[0-9a-zA-Z]{36}",
    keywords: ["ghp_"],
  },
  {
    id: "github-fine-grained-pat",
    kind: "github-token",
    description: "GitHub fine-grained personal access token",
    pattern: String.raw`github_pat_\w{82}`,
    keywords: ["github_pat_"],
  },
  {
    id: "github-oauth",
    kind: "github-token",
    description: "GitHub OAuth access token",
    pattern: "gho_[0-9a-zA-Z]{36}",
    keywords: ["gho_"],
  },
  {
    id: "github-app-token",
    kind: "github-token",
    description: "GitHub App user-to-server or installation token",
    pattern: "(?:ghu|ghs)_[0-9a-zA-Z]{36}",
    keywords: ["ghu_", "ghs_"],
  },
  {
    id: "github-refresh-token",
    kind: "github-token",
    description: "GitHub refresh token",
    pattern: "ghr_[0-9a-zA-Z]{36}",
    keywords: ["ghr_"],
  },

  // GitLab
  {
    id: "gitlab-pat",
    kind: "gitlab-token",
    description: "GitLab personal access token",
    pattern: String.raw`glpat-[\w-]{20}`,
    keywords: ["glpat-"],
  },
  {
    id: "gitlab-pat-routable",
    kind: "gitlab-token",
    description: "GitLab routable personal access token",
    pattern: String.raw`\bglpat-[0-9a-zA-Z_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}\b`,
    keywords: ["glpat-"],
  },
  {
    id: "gitlab-ptt",
    kind: "gitlab-token",
    description: "GitLab pipeline trigger token",
    pattern: "glptt-[0-9a-f]{40}",
    keywords: ["glptt-"],
  },
  {
    id: "gitlab-rrt",
    kind: "gitlab-token",
    description: "GitLab runner registration token",
    pattern: String.raw`GR1348941[\w-]{20}`,
    keywords: ["gr1348941"],
  },
  {
    id: "gitlab-runner-authentication-token",
    kind: "gitlab-token",
    description: "GitLab runner authentication token",
    pattern: "glrt-[0-9a-zA-Z_-]{20}",
    keywords: ["glrt-"],
  },
  {
    id: "gitlab-runner-authentication-token-routable",
    kind: "gitlab-token",
    description: "GitLab routable runner authentication token",
    pattern: String.raw`\bglrt-t\d_[0-9a-zA-Z_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}\b`,
    keywords: ["glrt-"],
  },
  {
    id: "gitlab-cicd-job-token",
    kind: "gitlab-token",
    description: "GitLab CI/CD job token",
    pattern: "glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}",
    keywords: ["glcbt-"],
  },
  {
    id: "gitlab-deploy-token",
    kind: "gitlab-token",
    description: "GitLab deploy token",
    pattern: "gldt-[0-9a-zA-Z_-]{20}",
    keywords: ["gldt-"],
  },
  {
    id: "gitlab-feature-flag-client-token",
    kind: "gitlab-token",
    description: "GitLab feature flag client token",
    pattern: "glffct-[0-9a-zA-Z_-]{20}",
    keywords: ["glffct-"],
  },
  {
    id: "gitlab-feed-token",
    kind: "gitlab-token",
    description: "GitLab feed token",
    pattern: "glft-[0-9a-zA-Z_-]{20}",
    keywords: ["glft-"],
  },
  {
    id: "gitlab-incoming-mail-token",
    kind: "gitlab-token",
    description: "GitLab incoming mail token",
    pattern: "glimt-[0-9a-zA-Z_-]{25}",
    keywords: ["glimt-"],
  },
  {
    id: "gitlab-kubernetes-agent-token",
    kind: "gitlab-token",
    description: "GitLab Kubernetes agent token",
    pattern: "glagent-[0-9a-zA-Z_-]{50}",
    keywords: ["glagent-"],
  },
  {
    id: "gitlab-oauth-app-secret",
    kind: "gitlab-token",
    description: "GitLab OAuth application secret",
    pattern: "gloas-[0-9a-zA-Z_-]{64}",
    keywords: ["gloas-"],
  },
  {
    id: "gitlab-scim-token",
    kind: "gitlab-token",
    description: "GitLab SCIM token",
    pattern: "glsoat-[0-9a-zA-Z_-]{20}",
    keywords: ["glsoat-"],
  },
  {
    id: "gitlab-session-cookie",
    kind: "gitlab-session-cookie",
    description: "GitLab session cookie",
    pattern: "_gitlab_session=([0-9a-z]{32})",
    keywords: ["_gitlab_session="],
  },

  // Key material and generic token formats
  {
    id: "private-key",
    kind: "private-key",
    description: "PEM or PGP private key block",
    pattern: String.raw`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]{64,32768}?KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=\s]|\\[rn])*)`,
    flags: "i",
    keywords: ["-----begin"],
  },
  {
    id: "jwt",
    kind: "jwt",
    description: "JSON Web Token",
    // gitleaks allows any backslash in the last two parts (for `\/`); only `\/` is accepted here,
    // so the `\` of a JSON-escaped closing quote is not swallowed.
    pattern: String.raw`\bey[a-zA-Z0-9]{17,}\.ey(?:[a-zA-Z0-9/_-]|\\/){17,}\.(?:(?:[a-zA-Z0-9/_-]|\\/){10,}={0,2})?${END}`,
    keywords: ["ey"],
  },
  {
    id: "jwt-base64",
    kind: "jwt",
    description: "Base64-encoded JSON Web Token",
    pattern: String.raw`\bZXlK(?:aGJHY2lPaU|aGNIVWlPaU|aGNIWWlPaU|aGRXUWlPaU|aU5qUWlP|amNtbDBJanBi|amRIa2lPaU|bGNHc2lPbn|bGJtTWlPaU|cWEzVWlPaU|cWQyc2lPb|cGMzTWlPaU|cGRpSTZJ|cmFXUWlP|clpYbGZiM0J6SWpwY|cmRIa2lPaUp|dWIyNWpaU0k2|d01tTWlP|d01uTWlPaU|d2NIUWlPaU|emRXSWlPaU|emRuUWlP|MFlXY2lPaU|MGVYQWlPaUp|MWNtd2l|MWMyVWlPaUp|MlpYSWlPaU|MlpYSnphVzl1SWpv|NElqb2|NE5XTWlP|NE5YUWlPaU|NE5YUWpVekkxTmlJNkl|NE5YVWlPaU|NmFYQWlPaU)[a-zA-Z0-9/\\_+\-\r\n]{40,}={0,2}`,
    keywords: ["zxlk"],
  },
  {
    id: "age-secret-key",
    kind: "age-secret-key",
    description: "age encryption secret key",
    pattern: "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    keywords: ["age-secret-key-1"],
  },
  {
    id: "1password-secret-key",
    kind: "1password-secret-key",
    description: "1Password account secret key",
    pattern: String.raw`\bA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}\b`,
    keywords: ["a3-"],
  },
  {
    id: "1password-service-account-token",
    kind: "1password-token",
    description: "1Password service account token",
    pattern: "ops_eyJ[a-zA-Z0-9+/]{250,}={0,3}",
    keywords: ["ops_"],
  },

  // Slack
  {
    id: "slack-bot-token",
    kind: "slack-token",
    description: "Slack bot token",
    pattern: "xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*",
    keywords: ["xoxb"],
  },
  {
    id: "slack-user-token",
    kind: "slack-token",
    description: "Slack user token",
    pattern: "xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}",
    keywords: ["xoxp-", "xoxe-"],
  },
  {
    id: "slack-app-token",
    kind: "slack-token",
    description: "Slack app-level token",
    pattern: String.raw`xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`,
    flags: "i",
    keywords: ["xapp"],
  },
  {
    id: "slack-config-access-token",
    kind: "slack-token",
    description: "Slack configuration access token",
    pattern: String.raw`xoxe\.xox[bp]-\d-[A-Z0-9]{163,166}`,
    flags: "i",
    keywords: ["xoxe.xoxb-", "xoxe.xoxp-"],
  },
  {
    id: "slack-config-refresh-token",
    kind: "slack-token",
    description: "Slack configuration refresh token",
    pattern: String.raw`xoxe-\d-[A-Z0-9]{146}`,
    flags: "i",
    keywords: ["xoxe-"],
  },
  {
    id: "slack-legacy-bot-token",
    kind: "slack-token",
    description: "Slack legacy bot token",
    pattern: "xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26}",
    keywords: ["xoxb"],
  },
  {
    id: "slack-legacy-token",
    kind: "slack-token",
    description: "Slack legacy token",
    pattern: String.raw`xox[os]-\d+-\d+-\d+-[a-fA-F\d]+`,
    keywords: ["xoxo", "xoxs"],
  },
  {
    id: "slack-legacy-workspace-token",
    kind: "slack-token",
    description: "Slack legacy workspace token",
    pattern: String.raw`xox[ar]-(?:\d-)?[0-9a-zA-Z]{8,48}`,
    keywords: ["xoxa", "xoxr"],
  },
  {
    id: "slack-webhook-url",
    kind: "slack-webhook-url",
    description: "Slack incoming webhook URL",
    pattern: String.raw`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`,
    keywords: ["hooks.slack.com"],
  },

  // AI providers
  {
    id: "openai-api-key",
    kind: "openai-api-key",
    description: "OpenAI API key",
    pattern: String.raw`\b(?:sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})\b|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})${END}`,
    keywords: ["t3blbkfj"],
  },
  {
    id: "anthropic-api-key",
    kind: "anthropic-api-key",
    description: "Anthropic API key",
    pattern: String.raw`\bsk-ant-api03-[a-zA-Z0-9_-]{93}AA${END}`,
    keywords: ["sk-ant-api03"],
  },
  {
    id: "anthropic-admin-api-key",
    kind: "anthropic-api-key",
    description: "Anthropic admin API key",
    pattern: String.raw`\bsk-ant-admin01-[a-zA-Z0-9_-]{93}AA${END}`,
    keywords: ["sk-ant-admin01"],
  },
  {
    id: "huggingface-access-token",
    kind: "huggingface-token",
    description: "Hugging Face access token",
    pattern: String.raw`\bhf_[a-zA-Z]{34}${END}`,
    keywords: ["hf_"],
  },
  {
    id: "huggingface-organization-api-token",
    kind: "huggingface-token",
    description: "Hugging Face organization API token",
    pattern: String.raw`\bapi_org_[a-zA-Z]{34}${END}`,
    keywords: ["api_org_"],
  },
  {
    id: "perplexity-api-key",
    kind: "perplexity-api-key",
    description: "Perplexity API key",
    pattern: String.raw`\bpplx-[a-zA-Z0-9]{48}\b`,
    keywords: ["pplx-"],
  },

  // Google Cloud and Azure
  {
    id: "gcp-api-key",
    kind: "gcp-api-key",
    description: "Google (GCP) API key",
    pattern: String.raw`\bAIza[\w-]{35}${END}`,
    keywords: ["aiza"],
  },
  {
    id: "gcp-service-account",
    kind: "gcp-service-account",
    description: "Google service account key file: its private key id (Cordon)",
    pattern: String.raw`\\?"private_key_id\\?"\s{0,5}:\s{0,5}\\?"([a-f0-9]{40})\\?"`,
    keywords: ["private_key_id"],
  },
  {
    id: "azure-ad-client-secret",
    kind: "azure-ad-client-secret",
    description: "Azure AD (Entra ID) client secret",
    pattern: String.raw`(?<![^\\'"\x60\s>=:(,)])[a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34}(?=$|[\\'"\x60\s<),])`,
    keywords: ["q~"],
  },
  {
    id: "azure-storage-account-key",
    kind: "azure-storage-key",
    description: "Azure storage account key in a connection string (Cordon)",
    pattern: "AccountKey=([A-Za-z0-9+/]{86}==)",
    flags: "i",
    keywords: ["accountkey="],
  },

  // Package registries
  {
    id: "npm-access-token",
    kind: "npm-token",
    description: "npm access token",
    pattern: String.raw`\bnpm_[a-z0-9]{36}${END}`,
    flags: "i",
    keywords: ["npm_"],
  },
  {
    id: "pypi-upload-token",
    kind: "pypi-token",
    description: "PyPI upload token",
    pattern: String.raw`pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}`,
    keywords: ["pypi-ageichlwas5vcmc"],
  },
  {
    id: "rubygems-api-token",
    kind: "rubygems-token",
    description: "RubyGems API token",
    pattern: String.raw`\brubygems_[a-f0-9]{48}${END}`,
    keywords: ["rubygems_"],
  },
  {
    id: "clojars-api-token",
    kind: "clojars-token",
    description: "Clojars deploy token",
    pattern: "CLOJARS_[a-z0-9]{60}",
    flags: "i",
    keywords: ["clojars_"],
  },
  {
    id: "artifactory-api-key",
    kind: "artifactory-token",
    description: "JFrog Artifactory API key",
    pattern: String.raw`\bAKCp[A-Za-z0-9]{69}\b`,
    keywords: ["akcp"],
  },
  {
    id: "artifactory-reference-token",
    kind: "artifactory-token",
    description: "JFrog Artifactory reference token",
    pattern: String.raw`\bcmVmd[A-Za-z0-9]{59}\b`,
    keywords: ["cmvmd"],
  },

  // Payments and messaging
  {
    id: "stripe-access-token",
    kind: "stripe-key",
    description:
      "Stripe secret or restricted key (no end delimiter: a longer key is cut, not missed)",
    pattern: String.raw`\b(?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99}`,
    keywords: ["sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod"],
  },
  {
    id: "square-access-token",
    kind: "square-token",
    description: "Square access token",
    pattern: String.raw`\b(?:EAAA|sq0atp-)[\w-]{22,60}${END}`,
    keywords: ["sq0atp-", "eaaa"],
  },
  {
    id: "shippo-api-token",
    kind: "shippo-token",
    description: "Shippo API token",
    pattern: String.raw`\bshippo_(?:live|test)_[a-fA-F0-9]{40}${END}`,
    keywords: ["shippo_"],
  },
  {
    id: "sendgrid-api-token",
    kind: "sendgrid-api-key",
    description: "SendGrid API key",
    pattern: String.raw`\bSG\.[a-zA-Z0-9=_.-]{66}${END}`,
    keywords: ["sg."],
  },
  {
    id: "sendinblue-api-token",
    kind: "sendinblue-api-key",
    description: "Sendinblue (Brevo) API key",
    pattern: String.raw`\bxkeysib-[a-f0-9]{64}-[a-zA-Z0-9]{16}${END}`,
    keywords: ["xkeysib-"],
  },
  {
    id: "twilio-api-key",
    kind: "twilio-api-key",
    description: "Twilio API key (word boundaries added)",
    pattern: String.raw`\bSK[0-9a-fA-F]{32}\b`,
    keywords: ["sk"],
  },
  {
    id: "mailgun-private-api-token",
    kind: "mailgun-key",
    description: "Mailgun private API key",
    pattern: assigned("mailgun", "key-[a-f0-9]{32}"),
    flags: "i",
    keywords: ["mailgun"],
  },
  {
    id: "mailgun-pub-key",
    kind: "mailgun-key",
    description: "Mailgun public validation key",
    pattern: assigned("mailgun", "pubkey-[a-f0-9]{32}"),
    flags: "i",
    keywords: ["mailgun"],
  },
  {
    id: "mailgun-signing-key",
    kind: "mailgun-key",
    description: "Mailgun webhook signing key",
    pattern: assigned("mailgun", "[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}"),
    flags: "i",
    keywords: ["mailgun"],
  },
  {
    id: "mailchimp-api-key",
    kind: "mailchimp-api-key",
    description: "Mailchimp API key",
    pattern: assigned("mailchimp", String.raw`[a-f0-9]{32}-us\d\d`),
    flags: "i",
    keywords: ["mailchimp"],
  },
  {
    id: "discord-api-token",
    kind: "discord-token",
    description: "Discord API token",
    pattern: assigned("discord", "[a-f0-9]{64}"),
    flags: "i",
    keywords: ["discord"],
  },
  {
    id: "discord-client-secret",
    kind: "discord-token",
    description: "Discord client secret",
    pattern: assigned("discord", "[a-z0-9=_-]{32}"),
    flags: "i",
    keywords: ["discord"],
  },
  {
    id: "telegram-bot-api-token",
    kind: "telegram-bot-token",
    description: "Telegram bot token next to its name",
    // Case-insensitive name but a case-sensitive `A`, so no `i` flag.
    pattern: assigned("[Tt][Ee][Ll][Ee][Gg][Rr]", "[0-9]{5,16}:A[a-zA-Z0-9_-]{34}"),
    keywords: ["telegr"],
  },
  {
    id: "telegram-bot-api-token-url",
    kind: "telegram-bot-token",
    description: "Telegram bot token in a Bot API URL (Cordon)",
    pattern: String.raw`api\.telegram\.org/(?:file/)?bot([0-9]{5,16}:A[a-zA-Z0-9_-]{34})${END}`,
    flags: "i",
    keywords: ["telegram.org/"],
  },
  {
    id: "twitter-bearer-token",
    kind: "twitter-token",
    description: "Twitter (X) app bearer token",
    pattern: assigned("twitter", "A{22}[a-zA-Z0-9%]{80,100}"),
    flags: "i",
    keywords: ["twitter"],
  },
  {
    id: "facebook-page-access-token",
    kind: "facebook-token",
    description: "Facebook page access token",
    pattern: String.raw`\bEAA[MC][a-zA-Z0-9]{100,}${END}`,
    keywords: ["eaam", "eaac"],
  },

  // Hosting, infrastructure and developer platforms
  {
    id: "heroku-api-key",
    kind: "heroku-api-key",
    description: "Heroku API key next to its name",
    pattern: assigned("heroku", UUID),
    flags: "i",
    keywords: ["heroku"],
  },
  {
    id: "heroku-api-key-v2",
    kind: "heroku-api-key",
    description: "Heroku API key",
    pattern: String.raw`\bHRKU-AA[0-9a-zA-Z_-]{58}${END}`,
    keywords: ["hrku-aa"],
  },
  {
    id: "digitalocean-access-token",
    kind: "digitalocean-token",
    description: "DigitalOcean OAuth access token",
    pattern: String.raw`\bdoo_v1_[a-f0-9]{64}${END}`,
    keywords: ["doo_v1_"],
  },
  {
    id: "digitalocean-pat",
    kind: "digitalocean-token",
    description: "DigitalOcean personal access token",
    pattern: String.raw`\bdop_v1_[a-f0-9]{64}${END}`,
    keywords: ["dop_v1_"],
  },
  {
    id: "digitalocean-refresh-token",
    kind: "digitalocean-token",
    description: "DigitalOcean OAuth refresh token",
    pattern: String.raw`\bdor_v1_[a-f0-9]{64}${END}`,
    flags: "i",
    keywords: ["dor_v1_"],
  },
  {
    id: "shopify-access-token",
    kind: "shopify-token",
    description: "Shopify access token",
    pattern: "shpat_[a-fA-F0-9]{32}",
    keywords: ["shpat_"],
  },
  {
    id: "shopify-custom-access-token",
    kind: "shopify-token",
    description: "Shopify custom app access token",
    pattern: "shpca_[a-fA-F0-9]{32}",
    keywords: ["shpca_"],
  },
  {
    id: "shopify-private-app-access-token",
    kind: "shopify-token",
    description: "Shopify private app access token",
    pattern: "shppa_[a-fA-F0-9]{32}",
    keywords: ["shppa_"],
  },
  {
    id: "shopify-shared-secret",
    kind: "shopify-token",
    description: "Shopify shared secret",
    pattern: "shpss_[a-fA-F0-9]{32}",
    keywords: ["shpss_"],
  },
  {
    id: "cloudflare-api-key",
    kind: "cloudflare-api-token",
    description: "Cloudflare API token next to its name",
    pattern: assigned("cloudflare", "[a-z0-9_-]{40}"),
    flags: "i",
    keywords: ["cloudflare"],
  },
  {
    id: "cloudflare-global-api-key",
    kind: "cloudflare-api-token",
    description: "Cloudflare global API key next to its name",
    pattern: assigned("cloudflare", "[a-f0-9]{37}"),
    flags: "i",
    keywords: ["cloudflare"],
  },
  {
    id: "cloudflare-origin-ca-key",
    kind: "cloudflare-origin-ca-key",
    description: "Cloudflare origin CA key",
    pattern: String.raw`\bv1\.0-[a-f0-9]{24}-[a-f0-9]{146}${END}`,
    keywords: ["v1.0-"],
  },
  {
    id: "fastly-api-token",
    kind: "fastly-api-token",
    description: "Fastly API token next to its name",
    pattern: assigned("fastly", "[a-z0-9=_-]{32}"),
    flags: "i",
    keywords: ["fastly"],
  },
  {
    id: "flyio-access-token",
    kind: "flyio-token",
    description: "Fly.io access token",
    pattern: String.raw`\b(?:fo1_[\w-]{43}|fm1[ar]_[a-zA-Z0-9+/]{100,}={0,3}|fm2_[a-zA-Z0-9+/]{100,}={0,3})${END}`,
    keywords: ["fo1_", "fm1", "fm2_"],
  },
  {
    id: "scalingo-api-token",
    kind: "scalingo-token",
    description: "Scalingo API token",
    pattern: String.raw`\btk-us-[\w-]{48}${END}`,
    keywords: ["tk-us-"],
  },
  {
    id: "openshift-user-token",
    kind: "openshift-token",
    description: "OpenShift user token",
    pattern: String.raw`\bsha256~[\w-]{43}${END}`,
    keywords: ["sha256~"],
  },
  {
    id: "alibaba-access-key-id",
    kind: "alibaba-access-key-id",
    description: "Alibaba Cloud access key id",
    pattern: String.raw`\bLTAI[a-zA-Z0-9]{20}${END}`,
    keywords: ["ltai"],
  },
  {
    id: "adobe-client-secret",
    kind: "adobe-client-secret",
    description: "Adobe client secret",
    pattern: String.raw`\bp8e-[a-zA-Z0-9]{32}${END}`,
    keywords: ["p8e-"],
  },
  {
    id: "atlassian-api-token",
    kind: "atlassian-api-token",
    description: "Atlassian API token (the prefixed form only)",
    pattern: String.raw`\bATATT3[A-Za-z0-9_=-]{186}${END}`,
    keywords: ["atatt3"],
  },
  {
    id: "okta-access-token",
    kind: "okta-token",
    description: "Okta access token next to its name",
    // The name is case-sensitive in gitleaks (Okta, okta, OKTA), hence no `i` flag.
    pattern: assigned("[Oo]kta|OKTA", String.raw`00[\w=-]{40}`),
    keywords: ["okta"],
  },
  {
    id: "harness-api-key",
    kind: "harness-api-key",
    description: "Harness personal or service account token",
    pattern: String.raw`(?:pat|sat)\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{20}`,
    keywords: ["pat.", "sat."],
  },

  // HashiCorp and secret managers
  {
    id: "vault-service-token",
    kind: "vault-token",
    description: "HashiCorp Vault service token",
    pattern: String.raw`\b(?:hvs\.[\w-]{90,120}|s\.[a-zA-Z0-9]{24})${END}`,
    keywords: ["hvs.", "s."],
  },
  {
    id: "vault-batch-token",
    kind: "vault-token",
    description: "HashiCorp Vault batch token",
    pattern: String.raw`\bhvb\.[\w-]{138,300}${END}`,
    keywords: ["hvb."],
  },
  {
    id: "hashicorp-tf-api-token",
    kind: "terraform-api-token",
    description: "Terraform Cloud / Enterprise API token",
    pattern: String.raw`[a-zA-Z0-9]{14}\.atlasv1\.[a-zA-Z0-9_=-]{60,70}`,
    keywords: ["atlasv1"],
  },
  {
    id: "doppler-api-token",
    kind: "doppler-token",
    description: "Doppler API token",
    pattern: String.raw`dp\.pt\.[a-zA-Z0-9]{43}`,
    keywords: ["dp.pt."],
  },

  // Data and observability platforms
  {
    id: "databricks-api-token",
    kind: "databricks-token",
    description: "Databricks API token",
    pattern: String.raw`\bdapi[a-f0-9]{32}(?:-\d)?${END}`,
    keywords: ["dapi"],
  },
  {
    id: "planetscale-api-token",
    kind: "planetscale-token",
    description: "PlanetScale API token",
    pattern: String.raw`\bpscale_tkn_[\w=.-]{32,64}${END}`,
    keywords: ["pscale_tkn_"],
  },
  {
    id: "planetscale-oauth-token",
    kind: "planetscale-token",
    description: "PlanetScale OAuth token",
    pattern: String.raw`\bpscale_oauth_[\w=.-]{32,64}${END}`,
    keywords: ["pscale_oauth_"],
  },
  {
    id: "planetscale-password",
    kind: "planetscale-token",
    description: "PlanetScale database password",
    pattern: String.raw`\bpscale_pw_[\w=.-]{32,64}${END}`,
    flags: "i",
    keywords: ["pscale_pw_"],
  },
  {
    id: "dynatrace-api-token",
    kind: "dynatrace-token",
    description: "Dynatrace API token",
    pattern: String.raw`dt0c01\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{64}`,
    keywords: ["dt0c01."],
  },
  {
    id: "datadog-access-token",
    kind: "datadog-token",
    description: "Datadog API or application key next to its name",
    pattern: assigned("datadog", "[a-z0-9]{40}"),
    flags: "i",
    keywords: ["datadog"],
  },
  {
    id: "new-relic-user-api-key",
    kind: "new-relic-key",
    description: "New Relic user API key",
    pattern: assigned("new-relic|newrelic|new_relic", "NRAK-[a-z0-9]{27}"),
    flags: "i",
    keywords: ["nrak"],
  },
  {
    id: "grafana-api-key",
    kind: "grafana-token",
    description: "Grafana API key",
    pattern: String.raw`\beyJrIjoi[A-Za-z0-9]{70,400}={0,3}${END}`,
    flags: "i",
    keywords: ["eyjrijoi"],
  },
  {
    id: "grafana-cloud-api-token",
    kind: "grafana-token",
    description: "Grafana Cloud API token",
    pattern: String.raw`\bglc_[A-Za-z0-9+/]{32,400}={0,3}${END}`,
    flags: "i",
    keywords: ["glc_"],
  },
  {
    id: "grafana-service-account-token",
    kind: "grafana-token",
    description: "Grafana service account token",
    pattern: String.raw`\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}${END}`,
    flags: "i",
    keywords: ["glsa_"],
  },
  {
    id: "sentry-user-token",
    kind: "sentry-token",
    description: "Sentry user auth token",
    pattern: String.raw`\bsntryu_[a-f0-9]{64}${END}`,
    keywords: ["sntryu_"],
  },
  {
    id: "sentry-org-token",
    kind: "sentry-token",
    description: "Sentry organization auth token",
    pattern: String.raw`\bsntrys_eyJpYXQiO[a-zA-Z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)[a-zA-Z0-9+/]{10,200}={0,2}_[a-zA-Z0-9+/]{43}(?![a-zA-Z0-9+/])`,
    keywords: ["sntrys_eyjpyxqio"],
  },
  {
    id: "maxmind-license-key",
    kind: "maxmind-license-key",
    description: "MaxMind license key",
    pattern: String.raw`\b[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk${END}`,
    keywords: ["_mmk"],
  },

  // Productivity and developer tools
  {
    id: "linear-api-key",
    kind: "linear-api-key",
    description: "Linear API key",
    pattern: "lin_api_[a-zA-Z0-9]{40}",
    keywords: ["lin_api_"],
  },
  {
    id: "notion-api-token",
    kind: "notion-token",
    description: "Notion integration token",
    pattern: String.raw`\bntn_[0-9]{11}[A-Za-z0-9]{35}${END}`,
    keywords: ["ntn_"],
  },
  {
    id: "postman-api-token",
    kind: "postman-api-key",
    description: "Postman API key",
    pattern: String.raw`\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}${END}`,
    keywords: ["pmak-"],
  },
  {
    id: "prefect-api-token",
    kind: "prefect-token",
    description: "Prefect API key",
    pattern: String.raw`\bpnu_[a-zA-Z0-9]{36}${END}`,
    keywords: ["pnu_"],
  },
  {
    id: "pulumi-api-token",
    kind: "pulumi-token",
    description: "Pulumi access token",
    pattern: String.raw`\bpul-[a-f0-9]{40}${END}`,
    keywords: ["pul-"],
  },
  {
    id: "readme-api-token",
    kind: "readme-api-key",
    description: "ReadMe API key",
    pattern: String.raw`\brdme_[a-z0-9]{70}${END}`,
    keywords: ["rdme_"],
  },
  {
    id: "infracost-api-token",
    kind: "infracost-token",
    description: "Infracost API token",
    pattern: String.raw`\bico-[a-zA-Z0-9]{32}${END}`,
    keywords: ["ico-"],
  },
  {
    id: "duffel-api-token",
    kind: "duffel-token",
    description: "Duffel API token",
    pattern: "duffel_(?:test|live)_[a-zA-Z0-9_=-]{43}",
    keywords: ["duffel_"],
  },
  {
    id: "easypost-api-token",
    kind: "easypost-api-key",
    description: "EasyPost API key",
    pattern: String.raw`\bEZAK[a-zA-Z0-9]{54}\b`,
    keywords: ["ezak"],
  },
  {
    id: "easypost-test-api-token",
    kind: "easypost-api-key",
    description: "EasyPost test API key",
    pattern: String.raw`\bEZTK[a-zA-Z0-9]{54}\b`,
    keywords: ["eztk"],
  },
];

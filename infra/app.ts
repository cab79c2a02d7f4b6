/**
 * The example app `cdk.json` points at: one stack holding a CertificateRotation configured by
 * infra/certrotate.config.json (edit it; it is validated at synth, so a bad file never deploys).
 * No context lookups: `npx cdk synth` works offline and without credentials; the stack deploys to
 * whatever account and region the CLI's credentials name.
 *
 * The sample configuration publishes the `cluster` bundle to one EKS cluster, `platform` in
 * eu-west-1, so the synthesized template shows its access entries: deploy to eu-west-1 with that
 * cluster existing (API authentication mode), or edit the consumer, or pass
 * `-c eksAccessEntries=false` to manage the cluster's access yourself.
 *
 * It also publishes the `cluster` bundle to an ELBv2 trust store it creates (`certrotate-clients`)
 * and an API Gateway domain (`api.example.com`), both from the versioned bucket
 * `certrotate-trust-bundles`, and imports the `kube-apiserver` leaf into an ACM certificate: edit
 * them to yours, or pass `-c awsTrustTargets=false` to leave them out.
 *
 * Context (optional): `-c alarmEmail=ops@example.com`, `-c secretPrefix=certrotate`, `-c eksAccessEntries=false`,
 * `-c awsTrustTargets=false`, `-c configFile=path/to/config.json` (default infra/certrotate.config.json).
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigFileError, readConfigFile } from '../lib/config/file.js';
import { CertificateRotation } from './certificate-rotation.js';
import { withoutAwsTrustTargets } from './parts/aws-trust-access.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};
const configFile = context('configFile') ?? fileURLToPath(new URL('./certrotate.config.json', import.meta.url));
let document: unknown;
try {
  // Validated here to name the file in the message; the construct validates the same document again.
  const shown = relative(process.cwd(), configFile);
  document = readConfigFile(configFile, shown === '' || shown.startsWith('..') ? configFile : shown).document;
} catch (error) {
  if (!(error instanceof ConfigFileError)) throw error;
  // One message for a person, no stack trace: the CDK CLI shows what the app wrote and its exit code.
  process.stderr.write(`certrotate: ${error.message}\n`);
  process.exit(1);
}

// The sample's ELBv2 trust store, API Gateway domain and ACM certificate: `-c awsTrustTargets=false` leaves them out.
const config = context('awsTrustTargets') === 'false' ? withoutAwsTrustTargets(document) : document;
const stack = new Stack(app, 'Certrotate', { description: 'certrotate: X.509 certificates and CAs rotated with zero downtime' });
const email = context('alarmEmail');
const secretPrefix = context('secretPrefix');
new CertificateRotation(stack, 'CertificateRotation', {
  config,
  ...(secretPrefix === undefined ? {} : { secretPrefix }),
  ...(email === undefined ? {} : { alarms: { email } }),
  eksAccessEntries: context('eksAccessEntries') !== 'false',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();

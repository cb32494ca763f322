// Headless Chromium (Debian's package, no browser download) opens the demo's Swagger UI,
// authorises with OAuth2 client credentials, runs "Try it out" on GET /me and expects 200.
//
// Usage: node swagger_authorize.mjs BASE_URL CLIENT_ID CLIENT_SECRET [SCREENSHOT.png]
import { chromium } from "playwright-core";

const [base, clientId, clientSecret, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  const outside = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith("data:")) outside.push(request.url());
  });
  await page.goto(`${base}/docs/`);
  await page.locator(".swagger-ui .opblock").first().waitFor();

  await page.locator("button.authorize").first().click();
  const modal = page.locator(".modal-ux");
  await modal.waitFor();
  await modal.locator("#client_id_clientCredentials").fill(clientId);
  await modal.locator("#client_secret_clientCredentials").fill(clientSecret);
  const oauth = modal.locator(".auth-container", { hasText: "clientCredentials" });
  await oauth.locator("button.authorize").click();
  await modal.getByText("Authorized", { exact: true }).waitFor({ timeout: 10000 });
  await modal.locator("button.btn-done").first().click();

  const me = page.locator(".opblock-get", { has: page.locator('[data-path="/me"]') });
  await me.locator(".opblock-summary").click();
  await me.getByRole("button", { name: "Try it out" }).click();
  await me.getByRole("button", { name: "Execute" }).click();
  const status = me.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 10000 });
  const code = (await status.innerText()).trim();
  const body = (await me.locator(".live-responses-table .response-col_description pre").first().innerText()).trim();
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ status: code, body, outside }));
  if (code !== "200") process.exitCode = 1;
} finally {
  await browser.close();
}

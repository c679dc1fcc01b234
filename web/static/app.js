// Progressive enhancement only: every page works without this script.
// Loaded as a module (so only browsers GOV.UK Frontend supports run it); no inline script,
// so the Content-Security-Policy can forbid inline script altogether.
import { initAll } from './govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()

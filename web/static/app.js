// Progressive enhancement only: every page works without this script.
// Loaded as a module (so only browsers GOV.UK Frontend supports run it); no inline script,
// so the Content-Security-Policy can forbid inline script altogether.
import { initAll } from './govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()

// The draft editor: line numbers beside the YAML textarea (the page works without them:
// problems name their line either way). Lines that have a problem are marked.
function lineNumbers (area) {
  const gutter = document.createElement('pre')
  gutter.className = 'app-editor__gutter'
  gutter.setAttribute('aria-hidden', 'true')
  const bad = new Set((area.dataset.errorLines || '').split(',').filter(Boolean).map(Number))
  const render = () => {
    const count = area.value.split('\n').length
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) => {
      const span = document.createElement('span')
      span.textContent = (i + 1) + '\n'
      if (bad.has(i + 1)) span.className = 'app-editor__bad'
      return span
    }))
  }
  area.parentNode.insertBefore(gutter, area)
  area.addEventListener('input', render)
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop })
  render()
}

document.querySelectorAll('[data-module="app-line-numbers"] textarea').forEach(lineNumbers)

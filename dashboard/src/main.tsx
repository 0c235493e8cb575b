import { render } from 'preact';
import { App } from './app.tsx';
// After the app's imports, so the page's own styles come after those of the libraries it uses.
import './app.css';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}

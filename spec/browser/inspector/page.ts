/** The inspector's page in an iframe (same origin through Karma's proxy, so that a spec can read and drive it). */
import { eventually, fixture } from '../sync/fixture.js';

export class InspectorFrame {
  private constructor(readonly frame: HTMLIFrameElement) {}

  /** Opens the page (`secure`: the one behind tokens) at a view (`#records/people`); resolves once it rendered. */
  static async open(hash: string, secure = false): Promise<InspectorFrame> {
    const frame = document.createElement('iframe');
    frame.style.width = '1000px';
    frame.style.height = '700px';
    const sync = secure ? fixture.secureSyncUrl : fixture.syncUrl;
    frame.src = `/${secure ? 'secure-inspector' : 'inspector'}/?sync=${encodeURIComponent(sync)}#${hash}`;
    document.body.append(frame);
    const page = new InspectorFrame(frame);
    await eventually(() => (page.document?.querySelector('#app > *') ?? null) !== null, 'the page to render', 10_000);
    return page;
  }

  get document(): Document {
    return this.frame.contentDocument!;
  }

  get window(): Window & typeof globalThis {
    return this.frame.contentWindow as Window & typeof globalThis;
  }

  $(selector: string): HTMLElement | null {
    return this.document.querySelector(selector);
  }

  $$(selector: string): HTMLElement[] {
    return [...this.document.querySelectorAll<HTMLElement>(selector)];
  }

  /** Waits for an element, and returns it. */
  async find(selector: string, ms = 5000): Promise<HTMLElement> {
    await eventually(() => this.$(selector) !== null, selector, ms);
    return this.$(selector)!;
  }

  go(hash: string): void {
    this.window.location.hash = hash;
  }

  /** Types into an input or textarea as a user would: its value, the input event, and a render before the next action. */
  async type(selector: string, text: string): Promise<void> {
    const field = this.$(selector) as HTMLInputElement | HTMLTextAreaElement;
    field.value = text;
    field.dispatchEvent(new Event('input', { bubbles: true }));
    await new Promise((resolve) => setTimeout(resolve, 30));
  }

  click(selector: string): void {
    this.$(selector)!.click();
  }

  close(): void {
    this.frame.remove();
  }
}

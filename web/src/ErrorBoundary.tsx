import { Component, type ReactNode } from "react";

interface Props {
  /** Renders the error; reset() re-renders the children. */
  fallback: (error: unknown, reset: () => void) => ReactNode;
  children: ReactNode;
}

/**
 * Catches errors thrown while rendering, which is how convex's useQuery
 * reports a query's error (e.g. not_found for a conversation the caller
 * may not see).
 */
export class ErrorBoundary extends Component<Props, { error: unknown; failed: boolean }> {
  override state = { error: undefined as unknown, failed: false };

  static getDerivedStateFromError(error: unknown) {
    return { error, failed: true };
  }

  reset = () => this.setState({ error: undefined, failed: false });

  override render() {
    if (this.state.failed) return this.props.fallback(this.state.error, this.reset);
    return this.props.children;
  }
}

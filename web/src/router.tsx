// A minimal history router: the inbox ("/"), a conversation
// ("/c/<conversationId>"), the notification settings
// ("/settings/notifications"), an admin's webhooks ("/admin/webhooks") and
// the agents' support desk ("/admin/support"),
// all deep-linkable (`parley dev` answers index.html for any such path).
import { createContext, useCallback, useContext, useEffect, useState, type MouseEvent, type ReactNode } from "react";

export type Route =
  | { page: "home" }
  | { page: "conversation"; conversationId: string }
  | { page: "notifications" }
  | { page: "webhooks" }
  | { page: "support" };

export const notificationsPath = "/settings/notifications";
export const webhooksPath = "/admin/webhooks";
export const supportDeskPath = "/admin/support";

export function parseRoute(pathname: string): Route {
  const m = /^\/c\/([^/]+)\/?$/.exec(pathname);
  if (m?.[1]) return { page: "conversation", conversationId: decodeURIComponent(m[1]) };
  const p = pathname.replace(/\/+$/, "");
  if (p === notificationsPath) return { page: "notifications" };
  if (p === webhooksPath) return { page: "webhooks" };
  if (p === supportDeskPath) return { page: "support" };
  return { page: "home" };
}

export function conversationPath(id: string): string {
  return `/c/${encodeURIComponent(id)}`;
}

interface RouterValue {
  route: Route;
  navigate(path: string): void;
}

const RouterContext = createContext<RouterValue>({ route: { page: "home" }, navigate: () => {} });

export function Router({ children }: { children: ReactNode }) {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    if (to !== window.location.pathname) window.history.pushState(null, "", to);
    setPath(to);
  }, []);
  return <RouterContext.Provider value={{ route: parseRoute(path), navigate }}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  return useContext(RouterContext);
}

/** A link that navigates without reloading (and still opens in a new tab on ctrl/cmd-click). */
export function Link({ to, className, children, ...rest }: { to: string; className?: string; children: ReactNode } & Record<`data-${string}`, string>) {
  const { navigate } = useRouter();
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} className={className} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

/**
 * Avatars: the initial of a name on a colour derived from an id alone (a
 * hash of the id into a fixed palette), so that one person, store or group
 * has the same colour in every window, whoever looks at it.
 */

/** The avatar colours (white text reads on each). */
export const avatarPalette = [
  "#0ea5e9", // sky
  "#f59e0b", // amber
  "#8b5cf6", // violet
  "#10b981", // emerald
  "#ef4444", // red
  "#ec4899", // pink
  "#6366f1", // indigo
  "#14b8a6", // teal
  "#f97316", // orange
  "#84cc16", // lime
] as const;

/** FNV-1a (32 bits) of s's UTF-16 code units. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The colour of id's avatar: the same for the same id, everywhere. */
export function avatarColor(id: string): string {
  return avatarPalette[hash(id) % avatarPalette.length]!;
}

/** A round avatar: name's initial on id's colour. */
export function Avatar({ id, name, small = false, className = "" }: { id: string; name: string; small?: boolean; className?: string }) {
  const color = avatarColor(id);
  return (
    <span
      className={`avatar ${small ? "small" : ""} ${className}`.trim()}
      style={{ background: color }}
      data-testid="avatar"
      data-avatar-id={id}
      data-color={color}
      aria-hidden
    >
      {(name.trim() || id).slice(0, 1).toUpperCase()}
    </span>
  );
}

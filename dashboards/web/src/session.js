// Who is logged in (`GET /api/v1/me`: name, role, via) for every page, and what the role allows.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export const Session = createContext(null);

const RANK = { viewer: 0, editor: 1, admin: 2 };

export function useSession() {
  return useContext(Session);
}

/** Editors and admins save and delete; viewers read and query. */
export function canEdit(me) {
  return !!me && RANK[me.role] >= RANK.editor;
}

/** Admins see the accounts and who used what. */
export function isAdmin(me) {
  return !!me && RANK[me.role] >= RANK.admin;
}

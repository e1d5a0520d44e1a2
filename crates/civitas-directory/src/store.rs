//! The built-in directory's storage: users, groups and memberships in the civitas database
//! (`migrations/0002_directory.sql`), partitioned by directory system name.
//!
//! Written once for SQLite and PostgreSQL through [`sqlx::AnyPool`]: `$n` placeholders,
//! booleans as 0/1, timestamps as RFC 3339 text, JSON as text. Password hashes go in and are
//! compared here but never come out in a [`User`].
//!
//! Queries built at run time (`AssertSqlSafe`) are assembled from our own column names,
//! `$n` placeholders and integers only; every value that comes from a caller is bound.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row, Transaction};

/// What went wrong in the directory.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("user '{0}' not found")]
    UserNotFound(String),
    #[error("group '{0}' not found")]
    GroupNotFound(String),
    #[error("user '{0}' already exists")]
    UserExists(String),
    #[error("group '{0}' already exists")]
    GroupExists(String),
    #[error("unknown user(s): {}", .0.join(", "))]
    UnknownUsers(Vec<String>),
    #[error("unknown group(s): {}", .0.join(", "))]
    UnknownGroups(Vec<String>),
    #[error("database error in the directory")]
    Database(#[from] sqlx::Error),
}

/// A user as returned to callers: never the password hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub enabled: bool,
    pub locked: bool,
    pub attributes: Value,
    /// Names of the groups the user is in, sorted.
    pub groups: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A group with its members' usernames, sorted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub enabled: bool,
    pub attributes: Option<Value>,
    pub groups: Vec<String>,
    pub password_hash: Option<String>,
}

/// Fields to change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<Option<String>>,
    pub firstname: Option<Option<String>>,
    pub lastname: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub attributes: Option<Value>,
    /// Replaces the memberships.
    pub groups: Option<Vec<String>>,
}

/// Which users to list.
#[derive(Debug, Clone)]
pub struct UserFilter {
    /// Case-insensitive substring of username, email, first or last name.
    pub search: Option<String>,
    pub enabled: Option<bool>,
    pub locked: Option<bool>,
    /// Only members of this group.
    pub group: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

impl Default for UserFilter {
    fn default() -> Self {
        Self {
            search: None,
            enabled: None,
            locked: None,
            group: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// A group to create.
#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

/// Group fields to change.
#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    /// Replaces the members.
    pub members: Option<Vec<String>>,
}

/// The columns of a [`User`], as a literal so queries stay `&'static str`.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.email, u.firstname, u.lastname, u.enabled, u.locked, u.attributes, u.created_at, u.updated_at"
    };
}

/// The directory tables of one database.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    pool: AnyPool,
}

impl DirectoryStore {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    // ---- users ----

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.create_user", system = %system))]
    pub async fn create_user(&self, system: &str, user: NewUser) -> Result<User, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        if user_id(&mut tx, system, &user.username).await?.is_some() {
            return Err(DirectoryError::UserExists(user.username));
        }
        let group_ids = group_ids(&mut tx, system, &user.groups).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let now = now();
        let attributes = user
            .attributes
            .unwrap_or_else(|| Value::Object(Default::default()));
        let inserted = sqlx::query(
            "INSERT INTO directory_users (id, system, username, email, firstname, lastname, \
             enabled, locked, attributes, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(system)
        .bind(&user.username)
        .bind(user.email)
        .bind(user.firstname)
        .bind(user.lastname)
        .bind(i64::from(user.enabled))
        .bind(attributes.to_string())
        .bind(user.password_hash)
        .bind(&now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(unique_or(e, || {
                DirectoryError::UserExists(user.username.clone())
            }));
        }
        for group_id in group_ids {
            add_membership(&mut tx, &group_id, &id).await?;
        }
        let created = user_in(&mut tx, system, &user.username).await?;
        seal_user(&mut tx, &created).await?;
        tx.commit()
            .await
            .map_err(|e| unique_or(e, || DirectoryError::UserExists(user.username.clone())))?;
        Ok(created)
    }

    /// The user named `username`.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.user", system = %system))]
    pub async fn user(&self, system: &str, username: &str) -> Result<User, DirectoryError> {
        user_in(&mut *self.pool.acquire().await?, system, username).await
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.update_user", system = %system))]
    pub async fn update_user(
        &self,
        system: &str,
        username: &str,
        changes: UserChanges,
    ) -> Result<User, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let id = user_id(&mut tx, system, username)
            .await?
            .ok_or_else(|| DirectoryError::UserNotFound(username.to_owned()))?;
        let new_name = changes
            .username
            .clone()
            .unwrap_or_else(|| username.to_owned());
        if new_name != username && user_id(&mut tx, system, &new_name).await?.is_some() {
            return Err(DirectoryError::UserExists(new_name));
        }
        let mut sets: Vec<String> = Vec::new();
        let mut values: Vec<Option<String>> = Vec::new();
        let mut push = |column: &str, value: Option<String>| {
            values.push(value);
            sets.push(format!("{column} = ${}", values.len()));
        };
        if let Some(name) = changes.username {
            push("username", Some(name));
        }
        if let Some(email) = changes.email {
            push("email", email);
        }
        if let Some(first) = changes.firstname {
            push("firstname", first);
        }
        if let Some(last) = changes.lastname {
            push("lastname", last);
        }
        if let Some(attributes) = changes.attributes {
            push("attributes", Some(attributes.to_string()));
        }
        push("updated_at", Some(now()));
        let mut sql = format!("UPDATE directory_users SET {}", sets.join(", "));
        let mut n = values.len();
        if changes.enabled.is_some() {
            n += 1;
            sql.push_str(&format!(", enabled = ${n}"));
        }
        sql.push_str(&format!(" WHERE id = ${}", n + 1));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in values {
            query = query.bind(value);
        }
        if let Some(enabled) = changes.enabled {
            query = query.bind(i64::from(enabled));
        }
        query
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or(e, || DirectoryError::UserExists(new_name.clone())))?;
        if let Some(groups) = changes.groups {
            let group_ids = group_ids(&mut tx, system, &groups).await?;
            sqlx::query("DELETE FROM directory_members WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            for group_id in group_ids {
                add_membership(&mut tx, &group_id, &id).await?;
            }
        }
        let updated = user_in(&mut tx, system, &new_name).await?;
        seal_user(&mut tx, &updated).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes the user and its memberships; returns the user as it was.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.delete_user", system = %system))]
    pub async fn delete_user(&self, system: &str, username: &str) -> Result<User, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let user = user_in(&mut tx, system, username).await?;
        sqlx::query("DELETE FROM directory_members WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM directory_users WHERE id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(DirectoryError::UserNotFound(username.to_owned()));
        }
        seal_user(&mut tx, &user).await?;
        tx.commit().await?;
        Ok(user)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.list_users", system = %system))]
    pub async fn list_users(
        &self,
        system: &str,
        filter: &UserFilter,
    ) -> Result<Vec<User>, DirectoryError> {
        let mut sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM directory_users u WHERE u.system = $1"
        )
        .to_owned();
        let mut binds: Vec<String> = vec![system.to_owned()];
        if let Some(search) = &filter.search {
            binds.push(like_pattern(search));
            let n = binds.len();
            sql.push_str(&format!(
                " AND (LOWER(u.username) LIKE ${n} ESCAPE '\\' OR LOWER(COALESCE(u.email, '')) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(COALESCE(u.firstname, '')) LIKE ${n} ESCAPE '\\' OR LOWER(COALESCE(u.lastname, '')) LIKE ${n} ESCAPE '\\')"
            ));
        }
        if let Some(group) = &filter.group {
            binds.push(group.clone());
            let n = binds.len();
            sql.push_str(&format!(
                " AND u.id IN (SELECT m.user_id FROM directory_members m \
                 JOIN directory_groups g ON g.id = m.group_id WHERE g.system = $1 AND g.name = ${n})"
            ));
        }
        // Booleans are written into the SQL (they are ours, not the caller's text).
        if let Some(enabled) = filter.enabled {
            sql.push_str(&format!(" AND u.enabled = {}", i64::from(enabled)));
        }
        if let Some(locked) = filter.locked {
            sql.push_str(&format!(" AND u.locked = {}", i64::from(locked)));
        }
        sql.push_str(&format!(
            " ORDER BY u.username LIMIT {} OFFSET {}",
            filter.limit.max(0),
            filter.offset.max(0)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if users.is_empty() {
            return Ok(users);
        }
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let mut groups = self
            .names_by_owner(
                "SELECT m.user_id AS owner, g.name AS name FROM directory_members m \
                 JOIN directory_groups g ON g.id = m.group_id \
                 WHERE m.user_id IN ({ids}) ORDER BY g.name",
                ids,
            )
            .await?;
        for user in &mut users {
            user.groups = groups.remove(&user.id).unwrap_or_default();
        }
        Ok(users)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.set_locked", system = %system))]
    pub async fn set_locked(
        &self,
        system: &str,
        username: &str,
        locked: bool,
    ) -> Result<User, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let updated = sqlx::query(
            "UPDATE directory_users SET locked = $1, updated_at = $2 WHERE system = $3 AND username = $4",
        )
        .bind(i64::from(locked))
        .bind(now())
        .bind(system)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(DirectoryError::UserNotFound(username.to_owned()));
        }
        let changed = user_in(&mut tx, system, username).await?;
        seal_user(&mut tx, &changed).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The stored argon2 hash (`None` when the user has no password).
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.password_hash", system = %system))]
    pub async fn password_hash(
        &self,
        system: &str,
        username: &str,
    ) -> Result<Option<String>, DirectoryError> {
        let row = sqlx::query(
            "SELECT password_hash FROM directory_users WHERE system = $1 AND username = $2",
        )
        .bind(system)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DirectoryError::UserNotFound(username.to_owned()))?;
        Ok(row.try_get::<Option<String>, _>("password_hash")?)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.set_password_hash", system = %system))]
    pub async fn set_password_hash(
        &self,
        system: &str,
        username: &str,
        hash: &str,
    ) -> Result<User, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let updated = sqlx::query(
            "UPDATE directory_users SET password_hash = $1, updated_at = $2 WHERE system = $3 AND username = $4",
        )
        .bind(hash)
        .bind(now())
        .bind(system)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(DirectoryError::UserNotFound(username.to_owned()));
        }
        let changed = user_in(&mut tx, system, username).await?;
        seal_user(&mut tx, &changed).await?;
        tx.commit().await?;
        Ok(changed)
    }

    // ---- groups ----

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.create_group", system = %system))]
    pub async fn create_group(
        &self,
        system: &str,
        group: NewGroup,
    ) -> Result<Group, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        if group_id(&mut tx, system, &group.name).await?.is_some() {
            return Err(DirectoryError::GroupExists(group.name));
        }
        let member_ids = user_ids(&mut tx, system, &group.members).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let now = now();
        sqlx::query(
            "INSERT INTO directory_groups (id, system, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(system)
        .bind(&group.name)
        .bind(group.description)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_or(e, || DirectoryError::GroupExists(group.name.clone())))?;
        for user_id in member_ids {
            add_membership(&mut tx, &id, &user_id).await?;
        }
        let created = group_in(&mut tx, system, &group.name).await?;
        seal_group(&mut tx, &created).await?;
        tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.group", system = %system))]
    pub async fn group(&self, system: &str, name: &str) -> Result<Group, DirectoryError> {
        group_in(&mut *self.pool.acquire().await?, system, name).await
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.update_group", system = %system))]
    pub async fn update_group(
        &self,
        system: &str,
        name: &str,
        changes: GroupChanges,
    ) -> Result<Group, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let id = group_id(&mut tx, system, name)
            .await?
            .ok_or_else(|| DirectoryError::GroupNotFound(name.to_owned()))?;
        let new_name = changes.name.clone().unwrap_or_else(|| name.to_owned());
        if new_name != name && group_id(&mut tx, system, &new_name).await?.is_some() {
            return Err(DirectoryError::GroupExists(new_name));
        }
        let description_changed = changes.description.is_some();
        let sql = if description_changed {
            "UPDATE directory_groups SET name = $1, updated_at = $2, description = $3 WHERE id = $4"
        } else {
            "UPDATE directory_groups SET name = $1, updated_at = $2 WHERE id = $3"
        };
        let mut query = sqlx::query(sql).bind(&new_name).bind(now());
        if let Some(description) = changes.description {
            query = query.bind(description);
        }
        query
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or(e, || DirectoryError::GroupExists(new_name.clone())))?;
        if let Some(members) = changes.members {
            let member_ids = user_ids(&mut tx, system, &members).await?;
            sqlx::query("DELETE FROM directory_members WHERE group_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            for user_id in member_ids {
                add_membership(&mut tx, &id, &user_id).await?;
            }
        }
        let updated = group_in(&mut tx, system, &new_name).await?;
        seal_group(&mut tx, &updated).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes the group (its users stay); returns the group as it was.
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.delete_group", system = %system))]
    pub async fn delete_group(&self, system: &str, name: &str) -> Result<Group, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let group = group_in(&mut tx, system, name).await?;
        sqlx::query("DELETE FROM directory_members WHERE group_id = $1")
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM directory_groups WHERE id = $1")
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
        seal_group(&mut tx, &group).await?;
        tx.commit().await?;
        Ok(group)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.list_groups", system = %system))]
    pub async fn list_groups(
        &self,
        system: &str,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Group>, DirectoryError> {
        let mut sql = "SELECT g.id, g.name, g.description, g.created_at, g.updated_at \
                       FROM directory_groups g WHERE g.system = $1"
            .to_owned();
        if search.is_some() {
            sql.push_str(
                " AND (LOWER(g.name) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(g.description, '')) LIKE $2 ESCAPE '\\')",
            );
        }
        sql.push_str(&format!(
            " ORDER BY g.name LIMIT {} OFFSET {}",
            limit.max(0),
            offset.max(0)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(system);
        if let Some(search) = search {
            query = query.bind(like_pattern(search));
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() {
            return Ok(groups);
        }
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let mut members = self
            .names_by_owner(
                "SELECT m.group_id AS owner, u.username AS name FROM directory_members m \
                 JOIN directory_users u ON u.id = m.user_id \
                 WHERE m.group_id IN ({ids}) ORDER BY u.username",
                ids,
            )
            .await?;
        for group in &mut groups {
            group.members = members.remove(&group.id).unwrap_or_default();
        }
        Ok(groups)
    }

    /// Runs a membership query (`owner`, `name` columns; `{ids}` is replaced by one
    /// placeholder per id) and groups the names by owner id, in the query's order. One
    /// query for a whole page of users or groups, shared by both listings.
    async fn names_by_owner(
        &self,
        template: &str,
        ids: Vec<String>,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, DirectoryError> {
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = template.replace("{ids}", &placeholders.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id);
        }
        let mut names: std::collections::HashMap<String, Vec<String>> = Default::default();
        for row in query.fetch_all(&self.pool).await? {
            let owner: String = row.try_get("owner")?;
            names.entry(owner).or_default().push(row.try_get("name")?);
        }
        Ok(names)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.add_member", system = %system))]
    pub async fn add_member(
        &self,
        system: &str,
        group: &str,
        username: &str,
    ) -> Result<Group, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let group_id = group_id(&mut tx, system, group)
            .await?
            .ok_or_else(|| DirectoryError::GroupNotFound(group.to_owned()))?;
        let user_id = user_id(&mut tx, system, username)
            .await?
            .ok_or_else(|| DirectoryError::UnknownUsers(vec![username.to_owned()]))?;
        let present = sqlx::query(
            "SELECT 1 AS present FROM directory_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(&group_id)
        .bind(&user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if present.is_none() {
            add_membership(&mut tx, &group_id, &user_id).await?;
        }
        let changed = group_in(&mut tx, system, group).await?;
        seal_group(&mut tx, &changed).await?;
        tx.commit().await?;
        Ok(changed)
    }

    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "directory.remove_member", system = %system))]
    pub async fn remove_member(
        &self,
        system: &str,
        group: &str,
        username: &str,
    ) -> Result<Group, DirectoryError> {
        let mut tx = civitas_store::begin_write(&self.pool).await?;
        let group_id = group_id(&mut tx, system, group)
            .await?
            .ok_or_else(|| DirectoryError::GroupNotFound(group.to_owned()))?;
        let user_id = user_id(&mut tx, system, username)
            .await?
            .ok_or_else(|| DirectoryError::UnknownUsers(vec![username.to_owned()]))?;
        sqlx::query("DELETE FROM directory_members WHERE group_id = $1 AND user_id = $2")
            .bind(&group_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        let changed = group_in(&mut tx, system, group).await?;
        seal_group(&mut tx, &changed).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

/// The user named `username`, read on `conn` (inside a transaction: as the transaction sees it).
async fn user_in(
    conn: &mut AnyConnection,
    system: &str,
    username: &str,
) -> Result<User, DirectoryError> {
    // One round trip: the user and its groups, one row per group.
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        ", g.name AS group_name FROM directory_users u \
         LEFT JOIN directory_members m ON m.user_id = u.id \
         LEFT JOIN directory_groups g ON g.id = m.group_id \
         WHERE u.system = $1 AND u.username = $2"
    ))
    .bind(system)
    .bind(username)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Err(DirectoryError::UserNotFound(username.to_owned()));
    };
    let mut user = user_from_row(first)?;
    for row in &rows {
        if let Some(group) = row.try_get::<Option<String>, _>("group_name")? {
            user.groups.push(group);
        }
    }
    user.groups.sort();
    Ok(user)
}

/// The group named `name`, read on `conn`.
async fn group_in(
    conn: &mut AnyConnection,
    system: &str,
    name: &str,
) -> Result<Group, DirectoryError> {
    let rows = sqlx::query(
        "SELECT g.id, g.name, g.description, g.created_at, g.updated_at, u.username \
         FROM directory_groups g \
         LEFT JOIN directory_members m ON m.group_id = g.id \
         LEFT JOIN directory_users u ON u.id = m.user_id \
         WHERE g.system = $1 AND g.name = $2",
    )
    .bind(system)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Err(DirectoryError::GroupNotFound(name.to_owned()));
    };
    let mut group = group_from_row(first)?;
    for row in &rows {
        if let Some(username) = row.try_get::<Option<String>, _>("username")? {
            group.members.push(username);
        }
    }
    group.members.sort();
    Ok(group)
}

/// Stores the running command's events with the change (the transactional outbox,
/// [`civitas_command::seal`]): the user as the command returns it, keyed by its name.
async fn seal_user(conn: &mut AnyConnection, user: &User) -> Result<(), DirectoryError> {
    let result = serde_json::to_value(user).unwrap_or(Value::Null);
    civitas_command::seal::seal_in(conn, &result, Some(&user.username)).await?;
    Ok(())
}

/// Like [`seal_user`] for a group.
async fn seal_group(conn: &mut AnyConnection, group: &Group) -> Result<(), DirectoryError> {
    let result = serde_json::to_value(group).unwrap_or(Value::Null);
    civitas_command::seal::seal_in(conn, &result, Some(&group.name)).await?;
    Ok(())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `%text%`, lowercased, with LIKE's wildcards escaped.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A unique-constraint violation becomes `conflict()`, anything else a database error.
fn unique_or(error: sqlx::Error, conflict: impl FnOnce() -> DirectoryError) -> DirectoryError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => conflict(),
        _ => DirectoryError::Database(error),
    }
}

async fn user_id(
    tx: &mut Transaction<'_, Any>,
    system: &str,
    username: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT id FROM directory_users WHERE system = $1 AND username = $2")
        .bind(system)
        .bind(username)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

async fn group_id(
    tx: &mut Transaction<'_, Any>,
    system: &str,
    name: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT id FROM directory_groups WHERE system = $1 AND name = $2")
        .bind(system)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

/// Most names one lookup binds: one query for a request's members or groups, whatever
/// their number up to the connector's limit, in slices the databases accept.
const NAMES_PER_QUERY: usize = 1_000;

/// Ids of the named groups, or every unknown name.
async fn group_ids(
    tx: &mut Transaction<'_, Any>,
    system: &str,
    names: &[String],
) -> Result<Vec<String>, DirectoryError> {
    ids_by_name(tx, "directory_groups", "name", system, names)
        .await?
        .map_err(DirectoryError::UnknownGroups)
}

/// Ids of the named users, or every unknown name.
async fn user_ids(
    tx: &mut Transaction<'_, Any>,
    system: &str,
    names: &[String],
) -> Result<Vec<String>, DirectoryError> {
    ids_by_name(tx, "directory_users", "username", system, names)
        .await?
        .map_err(DirectoryError::UnknownUsers)
}

/// Ids of `names` in `table` (our own table and column names), in the order of the
/// deduplicated names; `Err` with the unknown names when any is missing.
async fn ids_by_name(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    column: &str,
    system: &str,
    names: &[String],
) -> Result<Result<Vec<String>, Vec<String>>, sqlx::Error> {
    let names = dedup(names);
    let mut found = std::collections::HashMap::with_capacity(names.len());
    for slice in names.chunks(NAMES_PER_QUERY) {
        let placeholders: Vec<String> = (0..slice.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id, {column} AS name FROM {table} WHERE system = $1 AND {column} IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(system);
        for name in slice {
            query = query.bind(name.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: String = row.try_get("id")?;
            let name: String = row.try_get("name")?;
            found.insert(name, id);
        }
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !found.contains_key(n.as_str()))
        .map(|n| (*n).clone())
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(unknown));
    }
    Ok(Ok(names
        .iter()
        .filter_map(|n| found.remove(n.as_str()))
        .collect()))
}

fn dedup(names: &[String]) -> Vec<&String> {
    let mut seen = std::collections::BTreeSet::new();
    names.iter().filter(|n| seen.insert(n.as_str())).collect()
}

async fn add_membership(
    tx: &mut Transaction<'_, Any>,
    group_id: &str,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO directory_members (group_id, user_id) VALUES ($1, $2)")
        .bind(group_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let attributes: String = row.try_get("attributes")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        firstname: row.try_get("firstname")?,
        lastname: row.try_get("lastname")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        locked: row.try_get::<i64, _>("locked")? != 0,
        attributes: serde_json::from_str(&attributes).unwrap_or(Value::Object(Default::default())),
        groups: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn group_from_row(row: &AnyRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        members: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

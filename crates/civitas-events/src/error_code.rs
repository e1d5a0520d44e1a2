//! The platform's error codes for adapters and the saga (CivitasCore's `AdapterErrorCode`),
//! because the portal and its operators read them: one table, written in messages as
//! `NAME(code)`, e.g. `FROST_ENTITY_ERROR(3201)`.
//!
//! The thousands digit is the class: 1xxx the command cannot succeed as given, 2xxx
//! transient (retried; a result carries one only when the retries are exhausted), 3xxx
//! system-specific, 9xxx internal. Cases the platform's table lacks get numbers in the 4xxx
//! range, which it does not use: [`StepTimeout`](AdapterErrorCode::StepTimeout),
//! [`FrostAmbiguousProject`](AdapterErrorCode::FrostAmbiguousProject),
//! [`FrostProjectNotOurs`](AdapterErrorCode::FrostProjectNotOurs).

use std::fmt;

/// The table, once: each row is a variant, its number and its name.
macro_rules! adapter_error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $name:literal),)*) => {
        /// One code of the table; on the wire it is the number ([`code`](Self::code)).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AdapterErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl AdapterErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [AdapterErrorCode] = &[$(AdapterErrorCode::$variant,)*];

            /// The number and the name.
            const fn entry(self) -> (u16, &'static str) {
                match self {
                    $(AdapterErrorCode::$variant => ($code, $name),)*
                }
            }
        }
    };
}

adapter_error_codes! {
    /// 1001: the message or command is invalid (validation, unreadable, unsafe id).
    InvalidPayload = (1001, "INVALID_PAYLOAD"),
    /// 1002: the target has no such resource (HTTP 404 where one was expected).
    ResourceNotFound = (1002, "RESOURCE_NOT_FOUND"),
    /// 1003: configuration the call needs is missing (e.g. a credential that does not resolve).
    MissingConfig = (1003, "MISSING_CONFIG"),
    /// 1004: the operation is not supported.
    UnsupportedOperation = (1004, "UNSUPPORTED_OPERATION"),
    /// 1005: the resource type is not supported.
    InvalidResourceType = (1005, "INVALID_RESOURCE_TYPE"),
    /// 2001: the target did not answer in time, on every try.
    ConnectionTimeout = (2001, "CONNECTION_TIMEOUT"),
    /// 2002: the target answered 5xx, on every try.
    ServiceUnavailable = (2002, "SERVICE_UNAVAILABLE"),
    /// 2003: the target could not be reached (refused, reset, DNS), on every try.
    NetworkError = (2003, "NETWORK_ERROR"),
    /// 2004: the target answered 429, on every try.
    RateLimited = (2004, "RATE_LIMITED"),
    /// 2005: a result could not be published.
    PublishError = (2005, "PUBLISH_ERROR"),
    /// 2006: publishing a result timed out.
    PublishTimeout = (2006, "PUBLISH_TIMEOUT"),
    /// 3001: Keycloak, unspecified.
    KeycloakError = (3001, "KEYCLOAK_ERROR"),
    /// 3002: Keycloak reports a conflict.
    KeycloakConflict = (3002, "KEYCLOAK_CONFLICT"),
    /// 3003: Keycloak realm.
    KeycloakRealmError = (3003, "KEYCLOAK_REALM_ERROR"),
    /// 3004: Keycloak user.
    KeycloakUserError = (3004, "KEYCLOAK_USER_ERROR"),
    /// 3005: Keycloak client; also the token endpoint refusing our client credentials.
    KeycloakClientError = (3005, "KEYCLOAK_CLIENT_ERROR"),
    /// 3006: Keycloak role.
    KeycloakRoleError = (3006, "KEYCLOAK_ROLE_ERROR"),
    /// 3007: Keycloak group.
    KeycloakGroupError = (3007, "KEYCLOAK_GROUP_ERROR"),
    /// 3101: APISIX, unspecified.
    ApisixError = (3101, "APISIX_ERROR"),
    /// 3102: APISIX refused a route (4xx).
    ApisixRouteError = (3102, "APISIX_ROUTE_ERROR"),
    /// 3103: APISIX refused an upstream (4xx), or an upstream URL cannot be an APISIX node.
    ApisixUpstreamError = (3103, "APISIX_UPSTREAM_ERROR"),
    /// 3201: FROST refused the request (4xx other than 404 and 429).
    FrostEntityError = (3201, "FROST_ENTITY_ERROR"),
    /// 4001: (civitas) the orchestrator got no result for a step within the step timeout.
    StepTimeout = (4001, "STEP_TIMEOUT"),
    /// 4002: (civitas) more than one FROST project carries the dataset's name.
    FrostAmbiguousProject = (4002, "FROST_AMBIGUOUS_PROJECT"),
    /// 4003: (civitas) the FROST project to delete was not created by this saga; it is kept.
    FrostProjectNotOurs = (4003, "FROST_PROJECT_NOT_OURS"),
    /// 9001: anything not classified above.
    UnknownError = (9001, "UNKNOWN_ERROR"),
    /// 9002: a value could not be serialized.
    SerializationError = (9002, "SERIALIZATION_ERROR"),
    /// 9003: an answer could not be read (not JSON, or without what we need).
    DeserializationError = (9003, "DESERIALIZATION_ERROR"),
    /// 9004: the configuration is invalid.
    ConfigurationError = (9004, "CONFIGURATION_ERROR"),
}

impl AdapterErrorCode {
    /// The number, e.g. 3201.
    pub const fn code(self) -> u16 {
        self.entry().0
    }

    /// The name, e.g. `FROST_ENTITY_ERROR`.
    pub const fn name(self) -> &'static str {
        self.entry().1
    }

    /// The code with this number, if the table has one.
    pub fn from_code(code: u16) -> Option<AdapterErrorCode> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// Whether a later try may succeed (the 2xxx class).
    pub fn is_retryable(self) -> bool {
        (2000..3000).contains(&self.code())
    }
}

/// `NAME(code)`, e.g. `FROST_ENTITY_ERROR(3201)`.
impl fmt::Display for AdapterErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.code())
    }
}

/// Lets a wire code (`StepError::code`) be compared with a table entry.
impl PartialEq<AdapterErrorCode> for u16 {
    fn eq(&self, other: &AdapterErrorCode) -> bool {
        *self == other.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique_and_round_trip() {
        let mut numbers: Vec<u16> = AdapterErrorCode::ALL.iter().map(|c| c.code()).collect();
        let mut names: Vec<&str> = AdapterErrorCode::ALL.iter().map(|c| c.name()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!(numbers.len(), AdapterErrorCode::ALL.len());
        assert_eq!(names.len(), AdapterErrorCode::ALL.len());
        for &c in AdapterErrorCode::ALL {
            assert_eq!(AdapterErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(AdapterErrorCode::from_code(2010), None);
    }

    #[test]
    fn the_platform_numbers_are_the_platforms() {
        use AdapterErrorCode::*;
        for (code, n) in [
            (InvalidPayload, 1001),
            (ResourceNotFound, 1002),
            (ConnectionTimeout, 2001),
            (ServiceUnavailable, 2002),
            (NetworkError, 2003),
            (RateLimited, 2004),
            (ApisixRouteError, 3102),
            (FrostEntityError, 3201),
            (ConfigurationError, 9004),
        ] {
            assert_eq!(code.code(), n, "{code:?}");
        }
        assert_eq!(FrostEntityError.to_string(), "FROST_ENTITY_ERROR(3201)");
        assert!(RateLimited.is_retryable() && ServiceUnavailable.is_retryable());
        assert!(!FrostEntityError.is_retryable() && !StepTimeout.is_retryable());
    }
}

"""Labels in Korean (the default) and English (``?lang=en`` or the ``lang`` cookie)."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("ko", "en")
DEFAULT = "ko"

LABELS: dict[str, tuple[str, str]] = {
    "app": ("청사 출입관리", "Government complex access"),
    "feed": ("실시간 출입", "Live feed"),
    "search": ("검색", "Search"),
    "board": ("게이트 현황", "Nodes and doors"),
    "alarms": ("경보", "Alarms"),
    "inside": ("재실자 현황", "Who is inside"),
    "admin": ("관리", "Admin"),
    "audit": ("감사 기록", "Audit log"),
    "accounts": ("계정", "Accounts"),
    "posture": ("비상 태세", "Posture"),
    "lifecycle": ("출입증 조치", "Credential actions"),
    "login": ("로그인", "Log in"),
    "logout": ("로그아웃", "Log out"),
    "username": ("아이디", "Username"),
    "password": ("비밀번호", "Password"),
    "setup": ("최초 관리자 등록", "First admin setup"),
    "time": ("시각", "Time"),
    "site": ("청사", "Site"),
    "building": ("건물", "Building"),
    "door": ("출입문", "Door"),
    "node": ("게이트", "Node"),
    "zone": ("구역", "Zone"),
    "kind": ("종류", "Kind"),
    "holder": ("출입자", "Person"),
    "serial": ("출입증 번호", "Credential serial"),
    "organization": ("기관", "Organization"),
    "result": ("결과", "Result"),
    "granted": ("허용", "Granted"),
    "denied": ("거부", "Denied"),
    "any": ("전체", "Any"),
    "reason": ("사유", "Reason"),
    "since": ("시작", "From"),
    "until": ("종료", "To"),
    "find": ("조회", "Find"),
    "export_csv": ("CSV 내보내기", "Export CSV"),
    "next_page": ("다음 쪽", "Next page"),
    "first_page": ("처음", "First page"),
    "no_results": ("결과 없음", "No results"),
    "online": ("연결", "Online"),
    "offline": ("끊김", "Offline"),
    "unknown": ("알 수 없음", "Unknown"),
    "last_heartbeat": ("최근 신호", "Last heartbeat"),
    "version": ("버전", "Version"),
    "status_list_age": ("상태목록 경과", "Status list age"),
    "policy": ("정책", "Policy"),
    "doors": ("출입문 상태", "Doors"),
    "open_alarms": ("미처리 경보", "Open alarms"),
    "unlock": ("원격 개방", "Remote unlock"),
    "seconds": ("초", "seconds"),
    "severity": ("등급", "Severity"),
    "raised": ("발생", "Raised"),
    "acknowledge": ("확인 처리", "Acknowledge"),
    "acknowledged": ("확인됨", "Acknowledged"),
    "comment": ("메모", "Comment"),
    "show_all": ("전체 보기", "Show all"),
    "show_open": ("미처리만", "Open only"),
    "detail": ("내용", "Detail"),
    "people_inside": ("재실 인원", "People inside"),
    "print": ("인쇄", "Print"),
    "muster_note": (
        "화재 대피 확인 및 비상소집 보고용 (출입 기록 기준)",
        "For fire muster and the emergency recall report (from recorded passages)",
    ),
    "all_buildings": ("전체 건물", "All buildings"),
    "role": ("역할", "Role"),
    "role_viewer": ("열람", "Viewer"),
    "role_operator": ("운영", "Operator"),
    "role_admin": ("관리자", "Admin"),
    "disabled": ("사용 중지", "Disabled"),
    "create": ("생성", "Create"),
    "save": ("저장", "Save"),
    "enable": ("사용", "Enable"),
    "disable": ("중지", "Disable"),
    "new_password": ("새 비밀번호", "New password"),
    "actor": ("처리자", "Actor"),
    "action": ("조치", "Action"),
    "outcome": ("결과", "Outcome"),
    "target": ("대상", "Target"),
    "drill": ("훈련", "Drill"),
    "apply": ("적용", "Apply"),
    "subject": ("대상 (출입증 번호 또는 출입자 ID)", "Subject (serial or person id)"),
    "not_configured": ("설정되지 않음", "Not configured"),
    "done": ("처리되었습니다", "Done"),
    "live": ("실시간 연결", "Live"),
    "bad_login": ("아이디 또는 비밀번호가 맞지 않습니다", "Wrong username or password"),
    "throttled": (
        "로그인 시도가 너무 많습니다. 잠시 후 다시 시도하십시오",
        "Too many attempts; try again later",
    ),
    "pst_normal": ("평시", "Normal"),
    "pst_level4": ("비상근무 제4호", "Emergency level 4"),
    "pst_level3": ("비상근무 제3호", "Emergency level 3"),
    "pst_level2": ("비상근무 제2호", "Emergency level 2"),
    "pst_level1": ("비상근무 제1호", "Emergency level 1"),
    "pst_lockdown": ("봉쇄 (청사방호)", "Lockdown"),
    "pst_fire": ("화재", "Fire"),
    "lc_lost": ("분실 신고 (출입증 번호)", "Report lost (serial)"),
    "lc_suspend": ("정지 (출입자 ID)", "Suspend (person id)"),
    "lc_resume": ("정지 해제 (출입자 ID)", "Resume (person id)"),
    "lc_retire": ("영구 말소 (출입자 ID)", "Retire (person id)"),
}


def pick_lang(query: str | None, cookie: str | None) -> str:
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    return DEFAULT


def translator(lang: str) -> Callable[[str], str]:
    index = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str) -> str:
        pair = LABELS.get(key)
        return key if pair is None else pair[index]

    return t
